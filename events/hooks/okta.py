"""Okta Event Hooks: lifecycle and membership events mapped onto canonical events.

Okta POSTs `{"data": {"events": [...]}}`, each event a System Log entry: `uuid`,
`eventType`, `published` and a `target` list of `{"id", "type", "alternateId",
"displayName"}` objects (`type` "User", or "UserGroup" for a group). A user's
`alternateId` is its Okta login (an email address in most orgs); the Okta id is
kept as the mirror's `externalId`, so a later login rename still finds the user.
Events carry no profile beyond these, so a profile update refreshes the login and
display name only.

Okta retries a delivery it did not see acknowledged and never learns from a 4xx,
so an event that cannot apply (unknown type, a user we never saw deactivated, a
user without an email) is answered 200 and written to the audit log as ignored or
rejected, never raised. Each event is replay-safe by its `uuid`. The events that
apply go through the one write path like a SCIM write, and are audited like one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from events.hooks.canonical import EventType, Writer, apply_event, describe, record_receipt
from reconciler.errors import InvalidValue, Refusal
from reconciler.model import RuleViolation
from storage.audit import AuditEntry, record

ACTOR = "okta_event_hook"


class OktaTarget(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str
    type: str
    alternateId: str | None = None
    displayName: str | None = None


class OktaEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")
    uuid: str
    eventType: str
    published: datetime | None = None
    target: list[OktaTarget] | None = None

    def first(self, kind: str) -> OktaTarget:
        for target in self.target or []:
            if target.type == kind:
                return target
        raise InvalidValue(f"{self.eventType} has no {kind} target")


# A delivery of Okta's holds a handful of events; each costs a savepoint and an audit
# row, so a body packed with tiny events (1 MiB: thousands) is refused before any is read.
MAX_OKTA_EVENTS = 100


class OktaEvents(BaseModel):
    events: list[OktaEvent]


class OktaDelivery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    data: OktaEvents


def _user_ref(event: OktaEvent) -> dict[str, Any]:
    user = event.first("User")
    ref = {"externalId": user.id}
    return ref | ({"userName": user.alternateId} if user.alternateId else {})


def _profile(event: OktaEvent, **extra: Any) -> dict[str, Any]:
    user = event.first("User")
    if not user.alternateId:
        raise InvalidValue(f"{event.eventType}: the user target has no alternateId (login)")
    profile = {"userName": user.alternateId, "externalId": user.id, **extra}
    return profile | ({"displayName": user.displayName} if user.displayName else {})


def _membership(event: OktaEvent) -> dict[str, Any]:
    group = event.first("UserGroup")
    group_ref = {"externalId": group.id} | (
        {"displayName": group.displayName} if group.displayName else {}
    )
    return {"group": group_ref, "members": [_user_ref(event)]}


Mapped = list[tuple[EventType, dict[str, Any]]]


def _upsert(**extra: Any) -> Callable[[OktaEvent], Mapped]:
    return lambda event: [(EventType.USER_UPSERTED, _profile(event, **extra))]


def _deactivate(event: OktaEvent) -> Mapped:
    return [(EventType.USER_DEACTIVATED, _user_ref(event))]


def _delete(event: OktaEvent) -> Mapped:
    return [(EventType.USER_DELETED, _user_ref(event))]


def _join(event: OktaEvent) -> Mapped:
    return [(EventType.GROUP_MEMBERS_ADDED, _membership(event))]


def _leave(event: OktaEvent) -> Mapped:
    return [(EventType.GROUP_MEMBERS_REMOVED, _membership(event))]


# Okta event type -> the canonical events it means.
OKTA_EVENTS: dict[str, Callable[[OktaEvent], Mapped]] = {
    "user.lifecycle.create": _upsert(),
    "user.lifecycle.activate": _upsert(active=True),
    "user.lifecycle.reactivate": _upsert(active=True),
    "user.lifecycle.unsuspend": _upsert(active=True),
    "user.lifecycle.deactivate": _deactivate,
    "user.lifecycle.suspend": _deactivate,
    "user.lifecycle.delete": _delete,
    "user.lifecycle.delete.initiated": _delete,
    "user.lifecycle.delete.completed": _delete,
    "user.account.update_profile": _upsert(),
    "group.user_membership.add": _join,
    "group.user_membership.remove": _leave,
}


@dataclass
class OktaOutcome:
    applied: int = 0
    ignored: int = 0
    rejected: int = 0
    replayed: int = 0


def parse_delivery(payload: dict[str, Any]) -> list[OktaEvent]:
    raw = payload.get("data")
    events = raw.get("events") if isinstance(raw, dict) else None
    if isinstance(events, list) and len(events) > MAX_OKTA_EVENTS:
        raise InvalidValue(f"an Okta delivery holds at most {MAX_OKTA_EVENTS} events")
    try:
        return OktaDelivery.model_validate(payload).data.events
    except ValidationError as exc:
        raise InvalidValue(f"not an Okta event hook delivery: {describe(exc)}") from None


def receive(writer: Writer, events: list[OktaEvent]) -> OktaOutcome:
    """Apply a delivery in the writer's transaction, each event in its own savepoint."""
    outcome = OktaOutcome()
    session = writer.session
    notes: list[AuditEntry] = []
    for event in events:
        if not record_receipt(session.conn, session.tenant.id, f"okta:{event.uuid}", session.now):
            outcome.replayed += 1
            continue
        mapping = OKTA_EVENTS.get(event.eventType)
        if mapping is None:
            notes.append(_note(writer, event, "okta_event_ignored", "event type not handled"))
            outcome.ignored += 1
            continue
        try:
            with session.savepoint():
                for event_type, data in mapping(event):
                    apply_event(writer, event_type, data)
            outcome.applied += 1
        except (Refusal, RuleViolation) as exc:
            notes.append(_note(writer, event, "okta_event_rejected", exc.detail))
            outcome.rejected += 1
    record(session.conn, notes)
    return outcome


def _note(writer: Writer, event: OktaEvent, action: str, reason: str) -> AuditEntry:
    return AuditEntry(
        tenant_id=writer.tenant.id,
        actor=ACTOR,
        action=action,
        target=event.eventType,
        detail={"uuid": event.uuid, "reason": reason},
        at=writer.now,
    )
