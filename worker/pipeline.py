"""Drain a tenant's pending events in micro-batches (the worker's unit of work).

Each batch is one transaction: claim pending events, reconcile every resource
they touch once (level-triggered: desired = mirror now, actual = workspace now),
mark them applied. Resources a workspace rule refuses are dead-lettered; an unexpected error
is isolated resource by resource with savepoints, retried, and dead-lettered
after too many attempts; the rest of the batch still applies.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import redis
import structlog
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError, OperationalError
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from reconciler.model import ApplyOutcome, ResourceKey
from storage import mirror_names, outbox
from storage.clock import utcnow
from storage.db import is_sqlite, unit_of_work
from storage.outbox import PendingEvent
from storage.workspace.apply import apply_resources
from worker.failure_reason import failure_reason

log = structlog.get_logger(__name__)


class TenantBusy(Exception):
    """Another worker is applying this tenant's events right now."""


def is_transient(exc: BaseException) -> bool:
    """A dropped or refused connection, a serialisation failure: worth trying again."""
    if isinstance(exc, OperationalError):
        return True
    if isinstance(exc, DBAPIError):
        return bool(exc.connection_invalidated)
    return isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError)


@dataclass(frozen=True)
class DeadNote:
    """Why a resource's events were dead-lettered, for the WARNING logged after commit."""

    key: ResourceKey
    code: str
    reason: str
    events: int


@dataclass
class BatchResult:
    applied: list[PendingEvent] = field(default_factory=list)
    dead: list[PendingEvent] = field(default_factory=list)
    failed: list[PendingEvent] = field(default_factory=list)  # retried later
    notes: list[DeadNote] = field(default_factory=list)

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


def _by_key(events: Sequence[PendingEvent]) -> dict[ResourceKey, list[PendingEvent]]:
    grouped: dict[ResourceKey, list[PendingEvent]] = {}
    for event in events:
        grouped.setdefault((event.resource_type, event.resource_id), []).append(event)  # type: ignore[arg-type]
    return grouped


def _settle(
    conn: Connection,
    by_key: dict[ResourceKey, list[PendingEvent]],
    outcome: ApplyOutcome,
    result: BatchResult,
) -> None:
    """Keys a rule refuses are dead-lettered (never retried); the rest are applied."""
    now = utcnow()
    for key, key_events in by_key.items():
        violation = outcome.violations.get(key)
        if violation is None:
            result.applied.extend(key_events)
        else:
            outbox.dead_letter(
                conn, key_events, code=violation.code, reason=violation.detail, now=now
            )
            result.dead.extend(key_events)
            result.notes.append(DeadNote(key, violation.code, violation.detail, len(key_events)))


def _apply_isolated(
    conn: Connection, tenant_id: str, events: Sequence[PendingEvent], max_attempts: int
) -> BatchResult:
    """Apply resource by resource so one poison resource cannot block the batch."""
    result = BatchResult()
    now = utcnow()
    for key, key_events in _by_key(events).items():
        try:
            with conn.begin_nested():
                outcome = apply_resources(conn, tenant_id, [key])
            _settle(conn, {key: key_events}, outcome, result)
        except Exception as exc:
            if is_transient(exc):
                raise
            attempts = max(e.attempts for e in key_events) + 1
            reason = failure_reason(exc)  # no parameters, no email addresses
            if attempts >= max_attempts:
                outbox.dead_letter(conn, key_events, code="apply_error", reason=reason, now=now)
                result.dead.extend(key_events)
                result.notes.append(DeadNote(key, "apply_error", reason, len(key_events)))
            else:
                outbox.record_attempt(conn, [e.id for e in key_events], reason)
                result.failed.extend(key_events)
            log.error(
                "apply_failed", tenant_id=tenant_id, resource=key, attempts=attempts, error=reason
            )
            # The traceback (whose message may quote a row) only when debugging.
            log.debug("apply_failed_traceback", exc_info=True)
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
        by_key = _by_key(events)
        try:
            with conn.begin_nested():
                outcome = apply_resources(conn, tenant_id, list(by_key))
            result = BatchResult()
            _settle(conn, by_key, outcome, result)
        except Exception as exc:
            if is_transient(exc):
                raise
            result = _apply_isolated(conn, tenant_id, events, max_attempts)
        outbox.mark_applied(conn, [e.id for e in result.applied], utcnow())
        names = mirror_names.resource_names(conn, tenant_id, [n.key for n in result.notes])
    _log_dead_letters(tenant_id, result.notes, names)
    return result


def _log_dead_letters(
    tenant_id: str, notes: Sequence[DeadNote], names: dict[tuple[str, str], str]
) -> None:
    """One WARNING per dead-lettered resource, once committed: an operator reading the log
    learns who (userName or group name) and why, not only that a task "succeeded"."""
    for note in notes:
        kind, resource_id = note.key
        log.warning(
            "dead_lettered",
            tenant_id=tenant_id,
            resource_type=kind,
            resource_id=resource_id,
            **{"userName" if kind == "User" else "displayName": names.get(note.key)},
            error_code=note.code,
            reason=note.reason,
            events=note.events,
        )


@dataclass
class DrainResult:
    applied: list[PendingEvent] = field(default_factory=list)
    dead: list[PendingEvent] = field(default_factory=list)
    failed: list[PendingEvent] = field(default_factory=list)
    more: bool = False


MIN_BATCH = 20


def next_batch_size(
    current: int, *, claimed: int, seconds: float, batch_size: int, write_slice: float
) -> int:
    """The size of the next batch: `batch_size`, or fewer events so that one batch's
    transaction lasts about `write_slice` seconds (0: no bound), at the rate the last
    batch applied them. SQLite has one writer: the API's commits wait for the whole of a
    worker's transaction, so it is kept short; a batch never shrinks below a handful."""
    if write_slice <= 0 or claimed == 0 or seconds <= 0:
        return current
    fits = int(write_slice * claimed / seconds)
    return max(min(MIN_BATCH, batch_size), min(batch_size, fits))


def drain(
    engine: Engine,
    tenant_id: str,
    *,
    batch_size: int,
    time_budget: float,
    max_attempts: int = 5,
    write_slice: float = 0.0,
) -> DrainResult:
    """Apply batches until nothing is pending or the time budget is spent. On SQLite each
    batch is sized to hold the writer lock about `write_slice` seconds (`next_batch_size`)."""
    deadline = time.monotonic() + time_budget
    total = DrainResult()
    slice_seconds = write_slice if is_sqlite(engine) else 0.0
    limit = batch_size
    while True:
        began, claimed_at_most = time.monotonic(), limit
        batch = apply_batch(engine, tenant_id, limit, max_attempts)
        limit = next_batch_size(
            limit,
            claimed=batch.claimed,
            seconds=time.monotonic() - began,
            batch_size=batch_size,
            write_slice=slice_seconds,
        )
        total.applied.extend(batch.applied)
        total.dead.extend(batch.dead)
        total.failed.extend(batch.failed)
        if batch.failed:
            return total  # back off: the task retries later
        if batch.claimed == 0:
            # Until nothing is pending, not until a short batch: what arrived while this
            # batch applied is claimed now, rather than after another task's round trip
            # (or the busy re-kick's delay: a second task finds the tenant locked).
            return total
        if slice_seconds and batch.claimed < claimed_at_most:
            # SQLite: the backlog is drained. What arrived meanwhile has a kick of its own
            # (the task deleted the kick key before its first claim), gathered for a
            # moment: claiming it now, a few events a transaction, would keep the single
            # writer lock busy and the API's commits waiting.
            return total
        if time.monotonic() >= deadline:
            total.more = True
            return total
