"""Drain a tenant's pending events in micro-batches (the worker's unit of work).

Each batch is one transaction: claim pending events, reconcile every resource
they touch once (level-triggered: desired = mirror now, actual = workspace now),
mark them applied. A resource that fails for good is isolated with a savepoint
and its events dead-lettered; the rest of the batch still applies.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import structlog
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError, OperationalError
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from reconciler.apply import apply_resources
from reconciler.model import RuleViolation
from storage import outbox
from storage.clock import utcnow
from storage.db import is_sqlite, unit_of_work
from storage.outbox import PendingEvent

log = structlog.get_logger(__name__)


class TenantBusy(Exception):
    """Another worker is applying this tenant's events right now."""


def is_transient(exc: BaseException) -> bool:
    """A dropped or refused connection, a serialisation failure: worth trying again."""
    if isinstance(exc, OperationalError):
        return True
    if isinstance(exc, DBAPIError):
        return bool(exc.connection_invalidated)
    import redis

    return isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError)


@dataclass
class BatchResult:
    applied: list[PendingEvent] = field(default_factory=list)
    dead: list[PendingEvent] = field(default_factory=list)
    failed: list[PendingEvent] = field(default_factory=list)  # retried later

    @property
    def claimed(self) -> int:
        return len(self.applied) + len(self.dead) + len(self.failed)


def _lock_tenant(conn: Connection, tenant_id: str) -> None:
    """One applier per tenant at a time: an advisory lock on PostgreSQL; SQLite's single
    writer (BEGIN IMMEDIATE) gives the same guarantee."""
    if is_sqlite(conn):
        return
    got = conn.execute(
        text("SELECT pg_try_advisory_xact_lock(hashtextextended(:key, 0))"),
        {"key": f"apply:{tenant_id}"},
    ).scalar()
    if not got:
        raise TenantBusy(tenant_id)


def _keys(events: Sequence[PendingEvent]) -> list[tuple[str, str]]:
    return list(dict.fromkeys((e.resource_type, e.resource_id) for e in events))


def _apply_isolated(
    conn: Connection, tenant_id: str, events: Sequence[PendingEvent], max_attempts: int
) -> BatchResult:
    """Apply resource by resource so one poison resource cannot block the batch."""
    result = BatchResult()
    now = utcnow()
    by_key: dict[tuple[str, str], list[PendingEvent]] = {}
    for event in events:
        by_key.setdefault((event.resource_type, event.resource_id), []).append(event)
    for key, key_events in by_key.items():
        try:
            with conn.begin_nested():
                apply_resources(conn, tenant_id, [key])  # type: ignore[list-item]
            result.applied.extend(key_events)
        except RuleViolation as exc:
            outbox.dead_letter(conn, key_events, code=exc.code, reason=exc.detail, now=now)
            result.dead.extend(key_events)
        except Exception as exc:
            if is_transient(exc):
                raise
            attempts = max(e.attempts for e in key_events) + 1
            if attempts >= max_attempts:
                outbox.dead_letter(conn, key_events, code="apply_error",
                                   reason=f"{type(exc).__name__}: {exc}", now=now)
                result.dead.extend(key_events)
            else:
                outbox.record_attempt(conn, [e.id for e in key_events],
                                      f"{type(exc).__name__}: {exc}")
                result.failed.extend(key_events)
            log.exception("apply_failed", tenant_id=tenant_id, resource=key, attempts=attempts)
    return result


@retry(
    retry=retry_if_exception(is_transient),
    wait=wait_exponential(multiplier=0.1, max=2),
    stop=stop_after_attempt(4),
    reraise=True,
)
def apply_batch(engine: Engine, tenant_id: str, limit: int, max_attempts: int = 5) -> BatchResult:
    with unit_of_work(engine) as conn:
        _lock_tenant(conn, tenant_id)
        events = outbox.claim(conn, tenant_id, limit)
        if not events:
            return BatchResult()
        try:
            with conn.begin_nested():
                apply_resources(conn, tenant_id, _keys(events))  # type: ignore[arg-type]
            result = BatchResult(applied=list(events))
        except Exception as exc:
            if is_transient(exc):
                raise
            result = _apply_isolated(conn, tenant_id, events, max_attempts)
        outbox.mark_applied(conn, [e.id for e in result.applied], utcnow())
    return result


@dataclass
class DrainResult:
    applied: list[PendingEvent] = field(default_factory=list)
    dead: list[PendingEvent] = field(default_factory=list)
    failed: list[PendingEvent] = field(default_factory=list)
    more: bool = False


def drain(
    engine: Engine, tenant_id: str, *, batch_size: int, time_budget: float, max_attempts: int = 5
) -> DrainResult:
    """Apply batches until nothing is pending or the time budget is spent."""
    deadline = time.monotonic() + time_budget
    total = DrainResult()
    while True:
        batch = apply_batch(engine, tenant_id, batch_size, max_attempts)
        total.applied.extend(batch.applied)
        total.dead.extend(batch.dead)
        total.failed.extend(batch.failed)
        if batch.failed:
            return total  # back off: the task retries later
        if batch.claimed < batch_size:
            return total
        if time.monotonic() >= deadline:
            total.more = True
            return total
