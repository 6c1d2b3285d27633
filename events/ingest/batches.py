"""Many creates at once, for a source's snapshot (an import's batch): the same mirror
rows, change events, audit and trace as one `create_user` / `create_group` each
(events/ingest/writes.py), in a few multi-row statements instead of several a resource.

A body may come already validated (`ParsedUser`, `ParsedGroup`): the reconcile pass that
compared it with the mirror hands over what it parsed, so it is not validated twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from events.ingest.writes import JOINED, WriteResult, check_groups
from events.scim.resources import ParsedGroup, ParsedUser, parse_group, parse_user
from storage import mirror, mirror_members, outbox
from storage.tenants import Tenant


def create_users(
    conn: Connection,
    tenant: Tenant,
    users: Sequence[dict[str, Any] | ParsedUser],
    now: datetime,
    *,
    source: str = "scim",
    ids: Sequence[str | None] | None = None,
) -> list[WriteResult]:
    """`create_user` for each: one multi-row INSERT per table, one for the events. `ids`:
    the ids a reconcile's plan gave them (None: new ones)."""
    parsed = [u if isinstance(u, ParsedUser) else parse_user(u) for u in users]
    records = mirror.insert_users(
        conn, tenant.id, [(p.resource, p.password_set) for p in parsed], now=now, ids=ids
    )
    changes = [(r.id, r.version, p.resource) for r, p in zip(records, parsed, strict=True)]
    event_ids = outbox.append_many(
        conn,
        tenant_id=tenant.id,
        resource_type="User",
        operation="create",
        changes=changes,
        now=now,
        source=source,
    )
    return [WriteResult(r, [e]) for r, e in zip(records, event_ids, strict=True)]


def create_groups(
    conn: Connection,
    tenant: Tenant,
    groups: Sequence[dict[str, Any] | ParsedGroup],
    now: datetime,
    *,
    source: str = "scim",
    ids: Sequence[str | None] | None = None,
) -> list[WriteResult]:
    """`create_group` for each: the groups in one INSERT, their members resolved together
    and inserted 1,000 rows a statement, the events in one INSERT. Member ids must name
    users or groups that exist before the batch (as they must one create at a time)."""
    if not groups:
        return []
    check_groups(tenant)
    parsed = [g if isinstance(g, ParsedGroup) else parse_group(g) for g in groups]
    resources = [p.resource for p in parsed]
    records = mirror.insert_groups(conn, tenant.id, resources, now=now, ids=ids)
    added = mirror_members.add_members_many(
        conn, tenant.id, {r.id: p.member_ids or [] for r, p in zip(records, parsed, strict=True)}
    )
    changes = [
        (r.id, r.version, {**p.resource, "members_added": added[r.id]})
        for r, p in zip(records, parsed, strict=True)
    ]
    event_ids = outbox.append_many(
        conn,
        tenant_id=tenant.id,
        resource_type="Group",
        operation="create",
        changes=changes,
        now=now,
        source=source,
    )
    return [
        WriteResult(r, [e], dict.fromkeys(p.member_ids or [], JOINED))
        for r, p, e in zip(records, parsed, event_ids, strict=True)
    ]
