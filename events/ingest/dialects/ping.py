"""Ping Identity (PingFederate's SCIM Provisioner, PingOne's SCIM outbound connector).

Two settings of Ping's connection change what it sends; the workspace records the
same choices in its tenant options, `{"ping": {...}}`, so both sides agree:

- `unique_attribute`: how Ping finds an existing user when it does not know our id.
  `userName` (Ping's default: `filter=userName eq`) or `workEmail`
  (`filter=emails eq`). With `workEmail`, two users may not share a work email:
  a create or replace that would make them do so is a 409 `uniqueness`, the
  answer Ping expects for "already there".
- `remove_action`: what a user leaving Ping's scope means. `delete` (default):
  Ping sends DELETE and the member leaves the workspace (rule 5). `disable`: the
  workspace keeps people who leave, deactivated, with their groups and permissions
  (rule 4) for audit; Ping normally sends `active: false` then, and a DELETE that
  still arrives is applied the same way (answered 204; a later GET shows the user
  with `active: false`, so Ping's lookup finds and re-enables them on return).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import Connection

from events.ingest import writes
from events.ingest.dialects.base import Body, Dialect, set_active_body
from events.ingest.dialects.lookup import find_user
from events.ingest.writes import WriteResult
from reconciler.errors import InvalidValue, Uniqueness
from reconciler.tenant_options import PingRemoveAction as RemoveAction
from reconciler.tenant_options import PingUniqueAttribute as UniqueAttribute
from storage.projection import attribute
from storage.tenants import Tenant


class PingOptions(BaseModel):
    """The choices live with the other tenant options (reconciler/tenant_options.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    unique_attribute: UniqueAttribute = UniqueAttribute.USER_NAME
    remove_action: RemoveAction = RemoveAction.DELETE


def ping_options(tenant: Tenant) -> PingOptions:
    try:
        return PingOptions.model_validate(tenant.options.get("ping") or {})
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"]
        raise InvalidValue(f"this workspace's Ping settings are invalid: {reason}") from None


def work_email(body: Body) -> str | None:
    """The value of the `emails` item of type "work" (Ping's workEmail)."""
    emails = attribute(body, "emails")
    for item in emails if isinstance(emails, list) else []:
        if isinstance(item, dict) and str(attribute(item, "type") or "").lower() == "work":
            value = attribute(item, "value")
            return value if isinstance(value, str) else None
    return None


class Ping(Dialect):
    idp = "ping"

    def check_user(self, conn: Connection, tenant: Tenant, body: Body, user_id: str | None) -> None:
        """With `workEmail` as the unique attribute, a work email may name one user only."""
        if ping_options(tenant).unique_attribute is not UniqueAttribute.WORK_EMAIL:
            return
        email = work_email(body)
        if email is None:
            return
        holder = find_user(conn, tenant.id, 'emails[type eq "work"].value', email)
        if holder is not None and holder.id != user_id:
            raise Uniqueness(f"work email {email!r} is already taken")

    def delete_user(
        self, conn: Connection, tenant: Tenant, user_id: str, now: datetime, **options: Any
    ) -> WriteResult:
        if ping_options(tenant).remove_action is RemoveAction.DISABLE:
            return writes.patch_user(conn, tenant, user_id, set_active_body(False), now, **options)
        return super().delete_user(conn, tenant, user_id, now, **options)
