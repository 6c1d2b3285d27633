"""The SQL read at scrape time: per-tenant backlog, dead letters and reconcile figures.

Scrapes come every few seconds from every Prometheus, so each figure is an index probe
per tenant (correlated subqueries over `tenants`), never a scan of the event log:
`ix_change_events_pending (tenant_id, state, id)` for the backlog,
`ix_dead_letters_tenant` and `ix_reconcile_runs_tenant (tenant_id, id)` for the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, select

from reconciler.full_run import SUCCESSFUL
from storage.clock import as_utc
from storage.event_state import EventState
from storage.schema import change_events, dead_letters, reconcile_runs, tenants
from storage.sql import chunked

# "applied" and "dry_run": how runs recorded before the outcomes were named in full.
SUCCESSFUL_OUTCOMES = (*sorted(SUCCESSFUL), "applied", "dry_run")
UNFINISHED_OUTCOME = "running"


@dataclass(frozen=True)
class BacklogRow:
    tenant_id: str
    unapplied: int
    oldest_unapplied_at: datetime | None
    dead_letters: int


@dataclass
class ReconcileFigures:
    last_duration_seconds: dict[str, float] = field(default_factory=dict)
    last_drift: dict[str, dict[str, float]] = field(default_factory=dict)
    last_success_at: dict[str, datetime] = field(default_factory=dict)
    runs_by_outcome: dict[tuple[str, str], int] = field(default_factory=dict)


def read_backlog(conn: Connection) -> list[BacklogRow]:
    """One row per tenant, zeros included, so dashboards show 0 rather than a gap."""
    ce, dl = change_events, dead_letters
    pending = (ce.c.tenant_id == tenants.c.id) & (ce.c.state == EventState.PENDING)
    unapplied = select(func.count()).select_from(ce).where(pending).scalar_subquery()
    # The oldest by id is the first index entry: one probe, not a scan of pending rows.
    oldest = select(ce.c.received_at).where(pending).order_by(ce.c.id).limit(1).scalar_subquery()
    dead = select(func.count()).select_from(dl).where(dl.c.tenant_id == tenants.c.id)
    rows = conn.execute(
        select(tenants.c.id, unapplied, oldest, dead.scalar_subquery()).order_by(tenants.c.id)
    )
    return [
        BacklogRow(tenant_id, int(count), as_utc(at) if at else None, int(dead_count))
        for tenant_id, count, at, dead_count in rows
    ]


def _latest_run_id(outcome_matches: Callable[[Any], ColumnElement[bool]]) -> Any:
    """Per tenant, the newest run whose outcome matches: a backward probe of
    ix_reconcile_runs_tenant that stops at the first match."""
    probe = reconcile_runs.alias("probe")
    return (
        select(probe.c.id)
        .where(probe.c.tenant_id == tenants.c.id, outcome_matches(probe.c.outcome))
        .order_by(probe.c.id.desc())
        .limit(1)
        .correlate(tenants)
        .scalar_subquery()
    )


def read_reconcile(conn: Connection) -> ReconcileFigures:
    rr = reconcile_runs
    figures = ReconcileFigures()
    # Ids first, rows second: each step is an index probe whatever the planner thinks.
    last_ids = _ids(conn, _latest_run_id(lambda outcome: outcome != UNFINISHED_OUTCOME))
    success_ids = _ids(conn, _latest_run_id(lambda outcome: outcome.in_(SUCCESSFUL_OUTCOMES)))
    columns = (rr.c.tenant_id, rr.c.duration_seconds, rr.c.counts, rr.c.started_at)
    for tenant_id, duration, counts, started_at, finished_at in _runs(
        conn, [*columns, rr.c.finished_at], last_ids
    ):
        figures.last_duration_seconds[tenant_id] = _duration(duration, started_at, finished_at)
        figures.last_drift[tenant_id] = _drift_by_kind(counts)
    for tenant_id, finished_at in _runs(conn, [rr.c.tenant_id, rr.c.finished_at], success_ids):
        if finished_at is not None:
            figures.last_success_at[tenant_id] = as_utc(finished_at)
    # A counter needs every finished run; reconcile_runs grows by one row per tenant and
    # interval, so this stays small as long as old runs are pruned.
    for tenant_id, outcome, count in conn.execute(
        select(rr.c.tenant_id, rr.c.outcome, func.count())
        .where(rr.c.outcome != UNFINISHED_OUTCOME)
        .group_by(rr.c.tenant_id, rr.c.outcome)
    ):
        figures.runs_by_outcome[(tenant_id, outcome)] = int(count)
    return figures


def _ids(conn: Connection, per_tenant_id: Any) -> list[int]:
    rows = conn.execute(select(per_tenant_id).select_from(tenants))
    return [row_id for (row_id,) in rows if row_id is not None]


def _runs(conn: Connection, columns: Sequence[Any], ids: Sequence[int]) -> Iterator[Any]:
    for chunk in chunked(ids, 500):
        yield from conn.execute(select(*columns).where(reconcile_runs.c.id.in_(chunk)))


def _duration(stored: object, started_at: datetime, finished_at: datetime | None) -> float:
    if isinstance(stored, int | float) and not isinstance(stored, bool):
        return float(stored)
    if finished_at is None:
        return 0.0
    return (as_utc(finished_at) - as_utc(started_at)).total_seconds()


def _drift_by_kind(counts: object) -> dict[str, float]:
    """`counts` is the run's {action kind: number}; anything else in it is not drift."""
    if not isinstance(counts, dict):
        return {}
    return {
        str(kind): float(value)
        for kind, value in counts.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }
