"""The canonical webhook event, and how each one maps onto the ingest service.

A sender pushes what happened in its directory; it does not know our ids, so users
are named by `userName` or `externalId` and groups by `externalId` or
`displayName`. Each event becomes the same writes a SCIM request would make, through
the one write path (events/ingest/service.py, `source="webhook"`): the tenant's
dialect, a mirror change and a change event in the caller's transaction, audited
and published after commit, applied later by the workers like any other.

    {"id": "evt_1", "type": "user.upserted", "occurred_at": "2024-05-01T12:00:00Z",
     "data": {"userName": "ada@example.com", "name": {"givenName": "Ada"}, "active": true}}

- `user.upserted`, data a SCIM User body (userName required): create the user, or
  replace just the attributes given;
- `user.deleted` (a user ref): delete; an unknown user is already gone;
- `user.deactivated` / `user.activated` (a user ref): set `active`; unknown: 404;
- `group.upserted` (displayName, externalId?, members?): create, or rename and, when
  `members` is given, set the members;
- `group.deleted` (a group ref): delete; an unknown group is already gone;
- `group.members_added` (group ref, members: user refs): add. A group named by
  displayName and users named by an email userName are created when missing, so
  a membership may arrive before its user;
- `group.members_removed` (group ref, members: user refs): remove; absent ones
  are already not members.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import Connection

from events.ingest.dialects.base import PATCH_SCHEMA, add_members_body, set_active_body
from events.ingest.dialects.lookup import find_group, find_user, lock_name
from events.ingest.service import IngestSession
from events.ingest.writes import Kind, Op, WriteResult
from reconciler.errors import InvalidValue, NotFound, Uniqueness
from storage.mirror import MirrorResource
from storage.schema import webhook_receipts
from storage.sql import dialect_insert
from storage.tenants import Tenant

MAX_MEMBERS_PER_EVENT = 10_000


class EventType(StrEnum):
    USER_UPSERTED = "user.upserted"
    USER_DELETED = "user.deleted"
    USER_DEACTIVATED = "user.deactivated"
    USER_ACTIVATED = "user.activated"
    GROUP_UPSERTED = "group.upserted"
    GROUP_DELETED = "group.deleted"
    GROUP_MEMBERS_ADDED = "group.members_added"
    GROUP_MEMBERS_REMOVED = "group.members_removed"


class WebhookEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=200)  # unique per sender: a replay is a no-op
    type: EventType
    occurred_at: datetime | None = None
    data: dict[str, Any]


class UserRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    userName: str | None = Field(None, min_length=1, max_length=320)
    externalId: str | None = Field(None, min_length=1, max_length=320)

    @model_validator(mode="after")
    def _named(self) -> UserRef:
        if not (self.userName or self.externalId):
            raise ValueError("name the user by userName or externalId")
        return self


class GroupRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    displayName: str | None = Field(None, min_length=1, max_length=320)
    externalId: str | None = Field(None, min_length=1, max_length=320)

    @model_validator(mode="after")
    def _named(self) -> GroupRef:
        if not (self.displayName or self.externalId):
            raise ValueError("name the group by displayName or externalId")
        return self


class GroupData(GroupRef):
    displayName: str = Field(min_length=1, max_length=320)
    members: list[UserRef] | None = Field(None, max_length=MAX_MEMBERS_PER_EVENT)


class Membership(BaseModel):
    model_config = ConfigDict(extra="forbid")
    group: GroupRef
    members: list[UserRef] = Field(min_length=1, max_length=MAX_MEMBERS_PER_EVENT)


def _replace_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_SCHEMA], "Operations": [{"op": "replace", "value": attributes}]}


@dataclass
class Writer:
    """Applies canonical events through one ingest session (the request's unit of work)."""

    session: IngestSession

    @property
    def conn(self) -> Connection:
        return self.session.conn

    @property
    def tenant(self) -> Tenant:
        return self.session.tenant

    @property
    def now(self) -> datetime:
        return self.session.now

    def _run(self, kind: Kind, op: Op, *args: Any) -> WriteResult:
        return self.session.write(kind, op, *args)

    # --- users ----------------------------------------------------------------------

    def find_user(self, ref: UserRef) -> MirrorResource | None:
        if ref.externalId and (
            found := find_user(self.conn, self.tenant.id, "externalId", ref.externalId)
        ):
            return found
        return (
            find_user(self.conn, self.tenant.id, "userName", ref.userName) if ref.userName else None
        )

    def upsert_user(self, body: dict[str, Any]) -> str:
        forbidden = {"id", "meta"} & {str(k).lower() for k in body}
        if forbidden:
            raise InvalidValue(
                f"data must not carry {sorted(forbidden)}: name users by userName or externalId"
            )
        ref = UserRef.model_validate({k: body.get(k) for k in ("userName", "externalId")})
        existing = self.find_user(ref)
        if existing is None:
            try:
                created = self._run(Kind.USER, Op.CREATE, body)
                assert created.record is not None
                return created.record.id
            except Uniqueness:  # created meanwhile by a concurrent delivery: update it
                existing = self.find_user(ref)
                if existing is None:
                    raise
        attributes = {k: v for k, v in body.items() if str(k).lower() != "schemas"}
        self._run(Kind.USER, Op.PATCH, existing.id, _replace_attributes(attributes))
        return existing.id

    def delete_user(self, ref: UserRef) -> None:
        if (existing := self.find_user(ref)) is not None:
            self._run(Kind.USER, Op.DELETE, existing.id)

    def set_active(self, ref: UserRef, active: bool) -> None:
        existing = self.find_user(ref)
        if existing is None:
            raise NotFound(f"no user {ref.model_dump(exclude_none=True)}")
        self._run(Kind.USER, Op.PATCH, existing.id, set_active_body(active))

    def user_ids(self, refs: list[UserRef], *, create: bool) -> list[str]:
        ids = []
        for ref in refs:
            found = self.find_user(ref)
            if found is not None:
                ids.append(found.id)
            elif create and ref.userName:
                ids.append(self.upsert_user(ref.model_dump(exclude_none=True)))
            elif create:
                raise NotFound(f"no user {ref.model_dump(exclude_none=True)}")
        return list(dict.fromkeys(ids))

    # --- groups ---------------------------------------------------------------------

    def find_group(self, ref: GroupRef) -> MirrorResource | None:
        if ref.displayName:  # a missing group may be created next: one creator at a time
            lock_name(self.conn, self.tenant.id, "Group", ref.displayName)
        if ref.externalId and (
            found := find_group(self.conn, self.tenant.id, "externalId", ref.externalId)
        ):
            return found
        return (
            find_group(self.conn, self.tenant.id, "displayName", ref.displayName)
            if ref.displayName
            else None
        )

    def upsert_group(self, data: GroupData) -> str:
        existing = self.find_group(data)
        body: dict[str, Any] = data.model_dump(exclude_none=True, exclude={"members"})
        if data.members is not None:
            body["members"] = [{"value": i} for i in self.user_ids(data.members, create=True)]
        if existing is None:
            created = self._run(Kind.GROUP, Op.CREATE, body)
            assert created.record is not None
            return created.record.id
        if data.members is None:
            self._run(Kind.GROUP, Op.PATCH, existing.id, _replace_attributes(body))
        else:
            self._run(Kind.GROUP, Op.REPLACE, existing.id, body)
        return existing.id

    def delete_group(self, ref: GroupRef) -> None:
        if (existing := self.find_group(ref)) is not None:
            self._run(Kind.GROUP, Op.DELETE, existing.id)

    def add_members(self, membership: Membership) -> None:
        group = self.find_group(membership.group)
        if group is None and membership.group.displayName is None:
            raise NotFound(f"no group {membership.group.model_dump(exclude_none=True)}")
        ids = self.user_ids(membership.members, create=True)
        group_id = (
            group.id
            if group
            else self.upsert_group(
                GroupData.model_validate(membership.group.model_dump(exclude_none=True))
            )
        )
        self._run(Kind.GROUP, Op.PATCH, group_id, add_members_body(ids))

    def remove_members(self, membership: Membership) -> None:
        group = self.find_group(membership.group)
        ids = self.user_ids(membership.members, create=False)
        if group is None or not ids:
            return
        operation = {"op": "remove", "path": "members", "value": [{"value": i} for i in ids]}
        body = {"schemas": [PATCH_SCHEMA], "Operations": [operation]}
        self._run(Kind.GROUP, Op.PATCH, group.id, body)


HANDLERS: dict[EventType, Callable[[Writer, dict[str, Any]], object]] = {
    EventType.USER_UPSERTED: lambda w, d: w.upsert_user(d),
    EventType.USER_DELETED: lambda w, d: w.delete_user(UserRef.model_validate(d)),
    EventType.USER_DEACTIVATED: lambda w, d: w.set_active(UserRef.model_validate(d), False),
    EventType.USER_ACTIVATED: lambda w, d: w.set_active(UserRef.model_validate(d), True),
    EventType.GROUP_UPSERTED: lambda w, d: w.upsert_group(GroupData.model_validate(d)),
    EventType.GROUP_DELETED: lambda w, d: w.delete_group(GroupRef.model_validate(d)),
    EventType.GROUP_MEMBERS_ADDED: lambda w, d: w.add_members(Membership.model_validate(d)),
    EventType.GROUP_MEMBERS_REMOVED: lambda w, d: w.remove_members(Membership.model_validate(d)),
}


def apply_event(writer: Writer, event_type: EventType, data: dict[str, Any]) -> None:
    """Map one event onto ingest calls (a `Refusal` says why it cannot apply)."""
    try:
        HANDLERS[event_type](writer, data)
    except ValidationError as exc:
        raise InvalidValue(f"{event_type.value}: {describe(exc)}") from None


def describe(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "data"
    return f"{where}: {first.get('msg')}"


# --- what the webhook routes persist beside the mirror change -------------------------


def record_receipt(conn: Connection, tenant_id: str, event_id: str, now: datetime) -> bool:
    """False when this event id was already received: a replay, to be answered with no effect.

    Inserted in the same transaction as the mirror write, so a delivery that fails leaves
    no receipt and its retry applies; two deliveries racing wait on the same key.
    """
    row = {"tenant_id": tenant_id, "event_id": event_id, "received_at": now}
    insert = dialect_insert(conn, webhook_receipts).values(**row).on_conflict_do_nothing()
    # RETURNING, not rowcount: psycopg reports -1 for an INSERT ... ON CONFLICT here.
    return conn.execute(insert.returning(webhook_receipts.c.event_id)).first() is not None
