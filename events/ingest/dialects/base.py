"""The dialect contract: how one IdP's writes reach the mirror.

A dialect sits in the one write path (events/ingest/service.py), between whoever
sent a write (a SCIM route, a /Bulk operation, a webhook) and the mirror change
(events/ingest/writes.py), so every way in gets the same treatment. It may
- normalise a body before validation (`normalise_user`, `normalise_group`,
  `normalise_patch`: pure functions of the body and the tenant);
- refuse a user body its IdP's settings rule out (`check_user`, before a create or
  replace);
- route a write differently (its `create_user` ... `delete_group` methods, which
  take the same arguments as the steps in writes.py and default to calling them;
  `handlers` maps each (kind, operation) to this dialect's method);
- shape what the IdP reads back (`shape`).

What every IdP needs is done here once: a user body may carry `groups` (read-only
in RFC 7643, yet Okta and others send it on create). An empty list says nothing;
a non-empty one is an unambiguous "this user is in these groups", so it becomes
membership adds rather than being silently ignored. Quirks the PATCH engine
already accepts (capitalised ops, "True"/"False", null values...) are not
repeated here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import Connection

from events.ingest import writes
from events.ingest.writes import PATCH_SCHEMA, Kind, Op, WriteAction, WriteResult
from reconciler.errors import InvalidValue, NotFound
from storage.tenants import Tenant

Body = dict[str, Any]


def add_members_body(member_ids: list[str]) -> Body:
    return {
        "schemas": [PATCH_SCHEMA],
        "Operations": [
            {"op": "add", "path": "members", "value": [{"value": m} for m in member_ids]}
        ],
    }


def set_active_body(active: bool) -> Body:
    return {
        "schemas": [PATCH_SCHEMA],
        "Operations": [{"op": "replace", "path": "active", "value": active}],
    }


def split_groups(body: Body) -> tuple[Body, list[str]]:
    """The body without `groups`, and the group ids it named (in order, once each)."""
    key = next((k for k in body if isinstance(k, str) and k.lower() == "groups"), None)
    if key is None:
        return body, []
    rest = {k: v for k, v in body.items() if k != key}
    groups = body[key]
    if groups is None:
        return rest, []
    if not isinstance(groups, list):
        raise InvalidValue("'groups' must be a list of {\"value\": group id}")
    ids: list[str] = []
    for item in groups:
        value = item.get("value") if isinstance(item, dict) else None
        if not isinstance(value, str) or not value:
            raise InvalidValue("each item of 'groups' needs a 'value' holding a group id")
        ids.append(value)
    return rest, list(dict.fromkeys(ids))


class Dialect:
    """The generic dialect: RFC 7643/7644 as the PATCH engine and validators accept it."""

    idp: ClassVar[str] = "generic"
    render_active: ClassVar[bool] = False
    """Always show `active` on users (true when never sent): some IdPs read it back."""

    def __init__(self) -> None:
        # Which method handles each write: built once, so a subclass's overrides are in it.
        self.handlers: dict[tuple[Kind, Op], WriteAction] = {
            (Kind.USER, Op.CREATE): self.create_user,
            (Kind.USER, Op.REPLACE): self.replace_user,
            (Kind.USER, Op.PATCH): self.patch_user,
            (Kind.USER, Op.DELETE): self.delete_user,
            (Kind.GROUP, Op.CREATE): self.create_group,
            (Kind.GROUP, Op.REPLACE): self.replace_group,
            (Kind.GROUP, Op.PATCH): self.patch_group,
            (Kind.GROUP, Op.DELETE): self.delete_group,
        }

    # --- pure normalisation before validation -------------------------------------

    def normalise_user(self, body: Body, tenant: Tenant) -> Body:
        return body

    def normalise_group(self, body: Body, tenant: Tenant) -> Body:
        return body

    def normalise_patch(self, kind: str, body: Body, tenant: Tenant) -> Body:
        return body

    # --- checks the IdP's own settings add --------------------------------------------

    def check_user(self, conn: Connection, tenant: Tenant, body: Body, user_id: str | None) -> None:
        """Refuse a user body before it is created (`user_id` None) or replaces `user_id`."""

    # --- what the IdP reads back -------------------------------------------------

    def shape(self, kind: str, body: Body) -> Body:
        if kind == "User" and self.render_active and "active" not in body:
            return {**body, "active": True}
        return body

    # --- writes ---------------------------------------------------------------------

    def create_user(
        self, conn: Connection, tenant: Tenant, body: Body, now: datetime, **options: Any
    ) -> WriteResult:
        user, group_ids = self._user_and_groups(conn, tenant, body, None)
        result = writes.create_user(conn, tenant, user, now, **options)
        return self._join_groups(conn, tenant, result, group_ids, now, options)

    def replace_user(
        self,
        conn: Connection,
        tenant: Tenant,
        user_id: str,
        body: Body,
        now: datetime,
        **options: Any,
    ) -> WriteResult:
        user, group_ids = self._user_and_groups(conn, tenant, body, user_id)
        result = writes.replace_user(conn, tenant, user_id, user, now, **options)
        return self._join_groups(conn, tenant, result, group_ids, now, options)

    def patch_user(
        self,
        conn: Connection,
        tenant: Tenant,
        user_id: str,
        body: Body,
        now: datetime,
        **options: Any,
    ) -> WriteResult:
        body = self.normalise_patch("User", body, tenant)
        return writes.patch_user(conn, tenant, user_id, body, now, **options)

    def delete_user(
        self, conn: Connection, tenant: Tenant, user_id: str, now: datetime, **options: Any
    ) -> WriteResult:
        return writes.delete_user(conn, tenant, user_id, now, **options)

    def create_group(
        self, conn: Connection, tenant: Tenant, body: Body, now: datetime, **options: Any
    ) -> WriteResult:
        return writes.create_group(conn, tenant, self.normalise_group(body, tenant), now, **options)

    def replace_group(
        self,
        conn: Connection,
        tenant: Tenant,
        group_id: str,
        body: Body,
        now: datetime,
        **options: Any,
    ) -> WriteResult:
        body = self.normalise_group(body, tenant)
        return writes.replace_group(conn, tenant, group_id, body, now, **options)

    def patch_group(
        self,
        conn: Connection,
        tenant: Tenant,
        group_id: str,
        body: Body,
        now: datetime,
        **options: Any,
    ) -> WriteResult:
        body = self.normalise_patch("Group", body, tenant)
        return writes.patch_group(conn, tenant, group_id, body, now, **options)

    def delete_group(
        self, conn: Connection, tenant: Tenant, group_id: str, now: datetime, **options: Any
    ) -> WriteResult:
        return writes.delete_group(conn, tenant, group_id, now, **options)

    # --- helpers --------------------------------------------------------------------

    def _user_and_groups(
        self, conn: Connection, tenant: Tenant, body: Body, user_id: str | None
    ) -> tuple[Body, list[str]]:
        """The user body to store, and the groups it names (joined once the user is stored)."""
        self.check_user(conn, tenant, body, user_id)
        body, group_ids = split_groups(body)
        return self.normalise_user(body, tenant), group_ids

    @staticmethod
    def _join_groups(
        conn: Connection,
        tenant: Tenant,
        result: WriteResult,
        group_ids: list[str],
        now: datetime,
        options: dict[str, Any],
    ) -> WriteResult:
        if not group_ids or result.record is None:
            return result
        source = options.get("source", "scim")
        for group_id in group_ids:
            try:
                joined = writes.patch_group(
                    conn, tenant, group_id, add_members_body([result.record.id]), now, source=source
                )
            except NotFound:
                raise InvalidValue(f"groups: no group {group_id}") from None
            result.event_ids.extend(joined.event_ids)
        return result
