"""Audit rows for ingest writes: who (a token id) changed which SCIM resource, and when.

Every accepted SCIM write is already a change event; `record_writes` copies the events
one request wrote into audit_log, in the request's own transaction, adding the caller's
identity that the event log does not carry. Admin actions, webhook hooks and reconcile
repairs write their own audit rows (storage/workspace_admin.py, storage/workspace_store.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, bindparam, insert, select

from storage.schema import audit_log, change_events

# Built once (an expanding IN): every SCIM write runs it.
_EVENTS_WRITTEN = (
    select(
        change_events.c.id,
        change_events.c.resource_type,
        change_events.c.resource_id,
        change_events.c.version,
        change_events.c.operation,
        change_events.c.received_at,
    )
    .where(
        change_events.c.tenant_id == bindparam("tenant_id"),
        change_events.c.id.in_(bindparam("event_ids", expanding=True)),
    )
    .order_by(change_events.c.id)
)


def record_writes(
    conn: Connection, tenant_id: str, *, actor: str, event_ids: Sequence[int], via: str = "scim"
) -> int:
    """One audit row per change event in `event_ids`, e.g. action `scim_patch_group`,
    target `scim_group:<id>`; returns the number written. Never commits."""
    if not event_ids:
        return 0
    events = conn.execute(
        _EVENTS_WRITTEN, {"tenant_id": tenant_id, "event_ids": list(event_ids)}
    ).all()
    rows = [
        {
            "tenant_id": tenant_id,
            "actor": actor,
            "action": f"{via}_{e.operation}_{e.resource_type.lower()}",
            "target": f"{via}_{e.resource_type.lower()}:{e.resource_id}"[:200],
            "detail": {"event_id": e.id, "version": e.version},
            "at": e.received_at,
        }
        for e in events
    ]
    if rows:
        conn.execute(insert(audit_log), rows)
    return len(rows)
