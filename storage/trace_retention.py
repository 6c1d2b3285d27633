"""Retention of what the provisioning trace reads: the oldest rows go, a batch at a time.

`purge_batch` deletes up to `batch` applied change events older than the cutoff (with
their ingest audit rows and trace refs) and up to `batch` older audit rows, in the
caller's transaction; the caller commits and calls again until it returns nothing, so
no single transaction holds many locks. Pending and dead-lettered events are never
purged: they are work still to do. Reads go by index (applied_at, the audit log's
primary key, trace_refs.event_id), so a purge does not scan the tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, select

from storage.clock import as_utc
from storage.schema import audit_log, change_events, trace_refs


@dataclass
class Purged:
    events: int = 0
    audit_rows: int = 0
    trace_refs: int = 0

    @property
    def total(self) -> int:
        return self.events + self.audit_rows + self.trace_refs


def purge_batch(conn: Connection, cutoff: datetime, batch: int = 5000) -> Purged:
    """One batch of rows older than `cutoff`; never commits."""
    purged = Purged()
    ce = change_events.c
    old = conn.execute(
        select(ce.id, ce.tenant_id)
        .where(ce.applied_at < cutoff)
        .order_by(ce.applied_at)
        .limit(batch)
    ).all()
    by_tenant: dict[str, list[int]] = {}
    for event_id, tenant_id in old:
        by_tenant.setdefault(tenant_id, []).append(event_id)
    for tenant_id, ids in by_tenant.items():
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            purged.audit_rows += _count(
                conn.execute(
                    delete(audit_log).where(
                        audit_log.c.tenant_id == tenant_id, audit_log.c.event_id.in_(chunk)
                    )
                ).rowcount
            )
            purged.trace_refs += _count(
                conn.execute(delete(trace_refs).where(trace_refs.c.event_id.in_(chunk))).rowcount
            )
            purged.events += _count(
                conn.execute(delete(change_events).where(ce.id.in_(chunk))).rowcount
            )
    purged.audit_rows += _purge_old_audit(conn, cutoff, batch)
    return purged


def _purge_old_audit(conn: Connection, cutoff: datetime, batch: int) -> int:
    """The oldest audit rows by id (ids grow with time), those older than the cutoff."""
    rows = conn.execute(
        select(audit_log.c.id, audit_log.c.at).order_by(audit_log.c.id).limit(batch)
    ).all()
    ids = [row.id for row in rows if as_utc(row.at) < cutoff]
    deleted = 0
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        deleted += _count(conn.execute(delete(audit_log).where(audit_log.c.id.in_(chunk))).rowcount)
    return deleted


def _count(rowcount: int | None) -> int:
    return rowcount or 0
