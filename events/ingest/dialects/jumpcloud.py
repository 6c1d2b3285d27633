"""JumpCloud (Custom SCIM Identity Management, or a catalogue app's Identity Management tab).

- On activation JumpCloud creates a test user and a test group, then deletes them:
  plain SCIM, nothing to translate.
- JumpCloud "takes over management of existing groups in the application when the
  user group name matches": a POST /Groups whose displayName names exactly one
  existing group adopts that group (its id is kept, the POST's name and members
  replace what it had) instead of creating a second group of the same name.
- Member removals arrive as `remove` of `members` with a value list: the PATCH engine.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from events.ingest import writes
from events.ingest.dialects.base import Body, Dialect
from events.ingest.dialects.lookup import find_group, lock_name
from events.ingest.writes import WriteResult
from storage.tenants import Tenant


class JumpCloud(Dialect):
    idp = "jumpcloud"

    def create_group(
        self, conn: Connection, tenant: Tenant, body: Body, now: datetime, **options: Any
    ) -> WriteResult:
        name = body.get("displayName")
        existing = None
        if isinstance(name, str):
            lock_name(conn, tenant.id, "Group", name)  # two adoptions at once make one group
            existing = find_group(conn, tenant.id, "displayName", name)
        if existing is None:
            return super().create_group(conn, tenant, body, now, **options)
        body = {**body, "members": body.get("members") or []}  # adoption: JumpCloud's set wins
        return writes.replace_group(
            conn, tenant, existing.id, self.normalise_group(body, tenant), now, **options
        )
