"""The event log: a transactional outbox of change events, and its dead letters.

An event is appended in the same transaction as the mirror write it describes,
so a 2xx to the IdP means both are durable. Publishing to Redis happens after
commit; `published_at` only tells the relay it need not republish. It is written
with the event (the writer publishes right after commit), which saves every write
a second transaction: a writer whose publish fails clears it again
(`mark_unpublished`), and a writer that died in between leaves an event the
relay's stalled check re-kicks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, delete, func, select, update

from storage.bulk import insert_rows
from storage.clock import as_utc
from storage.event_state import EventState
from storage.schema import change_events, dead_letters
from storage.sql import chunked, for_update, one_of


@dataclass(frozen=True)
class PendingEvent:
    id: int
    tenant_id: str
    resource_type: str
    resource_id: str
    version: int
    received_at: datetime
    attempts: int


_APPEND = change_events.insert()


def _row(
    tenant_id: str,
    resource_type: str,
    operation: str,
    source: str,
    now: datetime,
    resource_id: str,
    version: int,
    payload: dict[str, Any],
) -> dict[str, Any]:
    """A new change event: pending, published at once (the relay re-sends what Redis
    missed), no attempts yet."""
    return {
        "tenant_id": tenant_id,
        "resource_type": resource_type,
        "resource_id": resource_id,
        "version": version,
        "operation": operation,
        "source": source,
        "payload": payload,
        "received_at": now,
        "published_at": now,
        "state": EventState.PENDING,
        "attempts": 0,
    }


def append(
    conn: Connection,
    *,
    tenant_id: str,
    resource_type: str,
    resource_id: str,
    version: int,
    operation: str,
    payload: dict[str, Any],
    now: datetime,
    source: str = "scim",
) -> int:
    row = _row(tenant_id, resource_type, operation, source, now, resource_id, version, payload)
    result = conn.execute(_APPEND, row)  # one compiled statement: values go as parameters
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def append_many(
    conn: Connection,
    *,
    tenant_id: str,
    resource_type: str,
    operation: str,
    changes: Sequence[tuple[str, int, dict[str, Any]]],
    now: datetime,
    source: str = "scim",
) -> list[int]:
    """`append` for many resources at once: `(resource id, version, payload)` each; the
    new event ids in the order given (storage/bulk.py)."""
    rows = [_row(tenant_id, resource_type, operation, source, now, *change) for change in changes]
    return [int(i) for i in insert_rows(conn, change_events, rows, returning="id")]


def mark_published(conn: Connection, event_ids: Sequence[int], now: datetime) -> None:
    for chunk in chunked(event_ids, 500):
        conn.execute(
            update(change_events)
            .where(one_of(conn, change_events.c.id, chunk), change_events.c.published_at.is_(None))
            .values(published_at=now)
        )


def mark_unpublished(conn: Connection, event_ids: Sequence[int]) -> None:
    """The publish after commit failed: hand these events to the relay."""
    for chunk in chunked(event_ids, 500):
        conn.execute(
            update(change_events)
            .where(
                one_of(conn, change_events.c.id, chunk), change_events.c.state == EventState.PENDING
            )
            .values(published_at=None)
        )


def unpublished(
    conn: Connection, *, older_than: datetime, limit: int = 5000
) -> list[tuple[int, str]]:
    """Events committed but never handed to Redis (it was down, or the process died)."""
    rows = conn.execute(
        select(change_events.c.id, change_events.c.tenant_id)
        .where(
            change_events.c.published_at.is_(None),
            change_events.c.state == EventState.PENDING,
            change_events.c.received_at < older_than,
        )
        .order_by(change_events.c.id)
        .limit(limit)
    )
    return [(r.id, r.tenant_id) for r in rows]


def waiting_tenants(conn: Connection, *, received_before: datetime) -> list[str]:
    """Tenants with an event still pending since before `received_before`.

    Events are committed as published (the writer publishes right after commit), so a
    writer that died in between leaves one here: the relay re-kicks its tenant within
    the grace period, without waiting for the stalled check."""
    rows = conn.execute(
        select(change_events.c.tenant_id)
        .where(
            change_events.c.state == EventState.PENDING,
            change_events.c.received_at < received_before,
        )
        .distinct()
    )
    return [r.tenant_id for r in rows]


def stalled_tenants(conn: Connection, *, published_before: datetime) -> list[str]:
    """Tenants with events published long ago yet still pending: their message was lost."""
    rows = conn.execute(
        select(change_events.c.tenant_id)
        .where(
            change_events.c.state == EventState.PENDING,
            change_events.c.published_at < published_before,
        )
        .distinct()
    )
    return [r.tenant_id for r in rows]


def claim(conn: Connection, tenant_id: str, limit: int) -> list[PendingEvent]:
    """The oldest pending events of a tenant, locked against other workers (PostgreSQL)."""
    query = (
        select(
            change_events.c.id,
            change_events.c.tenant_id,
            change_events.c.resource_type,
            change_events.c.resource_id,
            change_events.c.version,
            change_events.c.received_at,
            change_events.c.attempts,
        )
        .where(change_events.c.tenant_id == tenant_id, change_events.c.state == EventState.PENDING)
        .order_by(change_events.c.id)
        .limit(limit)
    )
    rows = conn.execute(for_update(conn, query, skip_locked=True))
    return [
        PendingEvent(
            r.id,
            r.tenant_id,
            r.resource_type,
            r.resource_id,
            r.version,
            as_utc(r.received_at),
            r.attempts,
        )
        for r in rows
    ]


def mark_applied(conn: Connection, event_ids: Sequence[int], now: datetime) -> None:
    for chunk in chunked(event_ids, 500):
        conn.execute(
            update(change_events)
            .where(one_of(conn, change_events.c.id, chunk))
            .values(
                state=EventState.APPLIED,
                applied_at=now,
                published_at=func.coalesce(change_events.c.published_at, now),
            )
        )


def record_attempt(conn: Connection, event_ids: Sequence[int], error: str) -> None:
    for chunk in chunked(event_ids, 500):
        conn.execute(
            update(change_events)
            .where(one_of(conn, change_events.c.id, chunk))
            .values(attempts=change_events.c.attempts + 1, last_error=error[:2000])
        )


def dead_letter(
    conn: Connection, events: Sequence[PendingEvent], *, code: str, reason: str, now: datetime
) -> None:
    if not events:
        return
    for chunk in chunked(events, 500):
        conn.execute(
            update(change_events)
            .where(one_of(conn, change_events.c.id, [e.id for e in chunk]))
            .values(
                state=EventState.DEAD,
                last_error=reason[:2000],
                attempts=change_events.c.attempts + 1,
            )
        )
    conn.execute(
        dead_letters.insert(),
        [
            {
                "tenant_id": e.tenant_id,
                "event_id": e.id,
                "resource_type": e.resource_type,
                "resource_id": e.resource_id,
                "reason": reason[:4000],
                "error_code": code,
                "attempts": e.attempts + 1,
                "first_failed_at": now,
                "last_failed_at": now,
            }
            for e in events
        ],
    )


def list_dead_letters(
    conn: Connection, tenant_id: str | None = None, limit: int = 100
) -> list[Any]:
    query = select(dead_letters).order_by(dead_letters.c.id.desc()).limit(limit)
    if tenant_id:
        query = query.where(dead_letters.c.tenant_id == tenant_id)
    return list(conn.execute(query))


def unknown_dead_letters(conn: Connection, ids: Sequence[int]) -> list[int]:
    """Those of `ids` that are not dead letters (never were, or replayed or purged since)."""
    known: set[int] = set()
    for chunk in chunked(sorted(set(ids)), 500):
        query = select(dead_letters.c.id).where(dead_letters.c.id.in_(chunk))
        known.update(conn.execute(query).scalars())
    return sorted(set(ids) - known)


def replay_dead_letters(conn: Connection, ids: Sequence[int] | None) -> list[tuple[int, str]]:
    """Put dead events back to pending; returns (event id, tenant) pairs to republish."""
    query = select(dead_letters.c.id, dead_letters.c.event_id, dead_letters.c.tenant_id)
    if ids:
        query = query.where(dead_letters.c.id.in_(list(ids)))
    rows = list(conn.execute(query))
    event_ids = [r.event_id for r in rows]
    for chunk in chunked(event_ids, 500):
        conn.execute(
            update(change_events)
            .where(one_of(conn, change_events.c.id, chunk))
            .values(state=EventState.PENDING, attempts=0, last_error=None, published_at=None)
        )
    for chunk in chunked([r.id for r in rows], 500):
        conn.execute(delete(dead_letters).where(dead_letters.c.id.in_(chunk)))
    return [(r.event_id, r.tenant_id) for r in rows]


def purge_dead_letters(conn: Connection, ids: Sequence[int] | None = None) -> int:
    query = delete(dead_letters)
    if ids:
        query = query.where(dead_letters.c.id.in_(list(ids)))
    return conn.execute(query).rowcount or 0


@dataclass(frozen=True)
class TenantPipelineStatus:
    tenant_id: str
    queue_depth: int
    oldest_unapplied_age_seconds: float | None
    lag_p50_seconds: float | None
    lag_p99_seconds: float | None
    applied_recent: int
    failures_recent: int
    dead_letters: int


def _percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


def pipeline_status(
    conn: Connection, tenant_id: str, *, now: datetime, window: timedelta = timedelta(minutes=5)
) -> TenantPipelineStatus:
    pending = and_(
        change_events.c.tenant_id == tenant_id, change_events.c.state == EventState.PENDING
    )
    depth, oldest = conn.execute(
        select(func.count(), func.min(change_events.c.received_at)).where(pending)
    ).one()
    recent = conn.execute(
        select(change_events.c.received_at, change_events.c.applied_at)
        .where(
            change_events.c.tenant_id == tenant_id,
            change_events.c.state == EventState.APPLIED,
            change_events.c.applied_at >= now - window,
        )
        .order_by(change_events.c.applied_at.desc())
        .limit(20000)
    )
    lags = sorted((as_utc(r.applied_at) - as_utc(r.received_at)).total_seconds() for r in recent)
    failures = conn.execute(
        select(func.count()).where(
            change_events.c.tenant_id == tenant_id,
            change_events.c.attempts > 0,
            change_events.c.received_at >= now - window,
        )
    ).scalar_one()
    dead = conn.execute(
        select(func.count()).select_from(dead_letters).where(dead_letters.c.tenant_id == tenant_id)
    ).scalar_one()
    return TenantPipelineStatus(
        tenant_id=tenant_id,
        queue_depth=int(depth),
        oldest_unapplied_age_seconds=(now - as_utc(oldest)).total_seconds() if oldest else None,
        lag_p50_seconds=_percentile(lags, 0.5),
        lag_p99_seconds=_percentile(lags, 0.99),
        applied_recent=len(lags),
        failures_recent=int(failures),
        dead_letters=int(dead),
    )
