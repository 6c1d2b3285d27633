"""Run a full reconcile of one tenant: the lease, the run row, the source, the items.

Shared by `scimsync reconcile`, the Celery task and the dashboard. One run per tenant
at a time, however many beat processes or operators ask: a lease (worker/lease.py)
renewed by a heartbeat while the run lives, checked before every write batch together
with the fencing check in SQL (no later run of the tenant has started). The source is
checked before the run is recorded; the drift items are stored as they are planned.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import Connection

from events.sources.mirror_repair import RepairSummary, plan_repair
from events.sources.readers import SourceSpec, iter_source, parse_source
from events.sources.repair_writes import apply_repair, repair
from reconciler import rules
from reconciler.drift import DriftItem
from reconciler.errors import InvalidValue
from reconciler.full_run import (
    Outcome,
    ReconcileReport,
    ReconcileStore,
    SafetyValve,
    reconcile_tenant,
)
from storage import planned_mirror, reconcile_items, reconcile_store, tenants
from storage.clock import utcnow
from storage.db import unit_of_work
from storage.reconcile_store import SqlReconcileStore
from storage.workspace.mirror_tables import MIRROR, MirrorTables
from worker.connections import get_engine, redis_client
from worker.lease import Lease, LeaseLost
from worker.publish import publish
from worker.settings import Settings, get_settings

log = structlog.get_logger(__name__)
# The human output shows this many items; the rest are read with `reconcile show`.
REPORTED_ITEMS = 20
# `refused` code of the source's resources that failed validation (left out of the mirror)
INVALID_IN_SOURCE = "invalid_in_source"


class AlreadyRunning(Exception):
    """Another full reconcile of this tenant holds the lease."""


def lease_for(tenant_id: str, settings: Settings | None = None) -> Lease:
    settings = settings or get_settings()
    name = f"scimsync:reconcile-lock:{tenant_id}"
    return Lease(redis_client(), name, settings.reconcile_lease_seconds)


def source_token(settings: Settings) -> str | None:
    if settings.reconcile_source_token is not None:
        return settings.reconcile_source_token.get_secret_value()
    if settings.reconcile_source_token_file is not None:
        try:
            return Path(settings.reconcile_source_token_file).read_text().strip() or None
        except OSError as exc:
            raise InvalidValue(f"cannot read the source token file: {exc.strerror}") from None
    return None


def check_source(source: str, settings: Settings | None = None) -> SourceSpec:
    """The source, checked (InvalidValue: a usage error) before anything is recorded."""
    settings = settings or get_settings()
    return parse_source(source, source_token(settings) if source.startswith("scim:") else None)


@contextmanager
def _open_store(
    engine: Any, write: bool, planned: MirrorTables | None = None
) -> Iterator[SqlReconcileStore]:
    """A store in its own transaction; planning (not `write`) reads `planned` as the
    mirror when given (a source run's planned mirror)."""
    with unit_of_work(engine, write=write) as conn:
        mirror = planned if planned is not None and not write else MIRROR
        yield SqlReconcileStore(conn, lock_tenant=write, mirror=mirror)


class _ItemWriter:
    """Stores a run's items as they come: in the transaction of the batch that writes what
    they name when there is one, else each batch in its own short transaction."""

    def __init__(self, engine: Any, run_id: int, tenant_id: str):
        self.engine, self.run_id, self.tenant_id = engine, run_id, tenant_id
        self.next_seq = 0

    def __call__(self, items: Sequence[DriftItem], conn: Connection | None = None) -> None:
        if conn is not None:
            self._add(conn, items)
            return
        with unit_of_work(self.engine) as own:
            self._add(own, items)

    def _add(self, conn: Connection, items: Sequence[DriftItem]) -> None:
        self.next_seq = reconcile_items.add_items(
            conn, self.run_id, self.tenant_id, self.next_seq, items
        )


@dataclass
class SourceStage:
    """What the source stage leaves the workspace pass: whether the mirror was empty, the
    planned mirror to plan against (None: the mirror itself), and the mirror's writes
    still to make (None: made, or nothing to write)."""

    was_empty: bool
    planned: MirrorTables | None = None
    write_mirror: Callable[[], object] | None = None


def _source_stage(
    engine: Any,
    spec: SourceSpec,
    run_id: int,
    report: ReconcileReport,
    *,
    force: bool,
    sink: _ItemWriter,
    fence: Callable[[], None],
) -> SourceStage:
    """Compare the source with the mirror: its items, and either its writes made at once
    (a run the safety valve cannot stop) or its planned mirror and the writes to come."""
    tenant_id = report.tenant_id
    with unit_of_work(engine, write=False) as conn:
        store = SqlReconcileStore(conn)
        report.members = store.member_count(tenant_id)
        was_empty = store.key_count(tenant_id) == 0

    def counted(items: Sequence[DriftItem], conn: Connection | None = None) -> None:
        report.count(items)
        sink(items, conn)

    def read(kind: Any) -> Any:
        return iter_source(spec, (kind,))

    publishing = partial(publish, engine)
    if not report.dry_run and (force or was_empty):
        # Nothing for the safety valve to weigh (forced, or an empty mirror: nothing the
        # source could remove or deactivate): plan and apply in one pass, each resource
        # read and validated once.
        summary = repair(
            engine,
            tenant_id,
            run_id,
            read,
            counted,
            publish=publishing,
            fence=fence,
            # Every resource is new, so every one is validated: on a helper thread while
            # PostgreSQL, a process of its own, writes the batch before (100,000 users:
            # 105 s -> 95 s). SQLite writes in this process, and lost time (78 s -> 83 s).
            ahead=was_empty and engine.dialect.name == "postgresql",
        )
        _report_invalid(report, summary)
        return SourceStage(was_empty)
    plan = plan_repair(engine, tenant_id, run_id, read, counted)
    _report_invalid(report, plan)
    if not plan.operations:
        return SourceStage(was_empty)
    write = partial(apply_repair, engine, tenant_id, run_id, read, publish=publishing, fence=fence)
    return SourceStage(was_empty, planned_mirror.tables(run_id), write)


def _report_invalid(report: ReconcileReport, summary: RepairSummary) -> None:
    """Resources of the source that fail validation are left out of the mirror, and said so."""
    if summary.invalid:
        report.refused[INVALID_IN_SOURCE] = summary.invalid


def run_reconcile(
    tenant_id: str,
    *,
    dry_run: bool = False,
    force: bool = False,
    source: str = "mirror",
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """One run; returns its report (`items`: the first REPORTED_ITEMS of them).

    Refused before a run is recorded: an unknown tenant (NotFound), a tenant without
    SCIM (RuleRefusal `scim_disabled`), a source that is not one (InvalidValue)."""
    settings = get_settings()
    safety = SafetyValve(settings.reconcile_safety_ratio)
    engine = get_engine()
    spec = check_source(source, settings)
    with unit_of_work(engine, write=False) as conn:
        tenants.get(conn, tenant_id)  # an unknown tenant: NotFound
        policy = SqlReconcileStore(conn).load_policy(tenant_id)
    if policy is not None:
        rules.check_scim_enabled(policy)
    lease = lease_for(tenant_id, settings)
    if not lease.acquire():
        raise AlreadyRunning(f"a full reconcile of {tenant_id} is already running")
    started = time.monotonic()
    with lease:
        with unit_of_work(engine) as conn:
            planned_mirror.clear(conn, tenant_id)  # a killed run's, if any
            run_id = reconcile_store.start_run(
                conn, tenant_id, source=spec.label, dry_run=dry_run, forced=force, now=utcnow()
            )
        report = ReconcileReport(tenant_id, dry_run)
        sink = _ItemWriter(engine, run_id, tenant_id)

        def check_lease() -> None:
            lease.check()

        def fence(store: ReconcileStore | None = None) -> None:
            lease.check()
            conn = store.conn if isinstance(store, SqlReconcileStore) else None
            if conn is not None and reconcile_store.superseded(conn, tenant_id, run_id):
                raise LeaseLost(f"a later reconcile of {tenant_id} has started; run {run_id} stops")

        error: str | None = None
        try:
            stage = SourceStage(was_empty=False)
            if spec.kind != "mirror":
                stage = _source_stage(
                    engine, spec, run_id, report, force=force, sink=sink, fence=check_lease
                )
            reconcile_tenant(
                lambda write: _open_store(engine, write, stage.planned),
                tenant_id,
                dry_run=dry_run,
                force=force,
                safety=safety,
                sink=sink,
                fence=fence,
                progress=progress,
                report=report,
                write_mirror=stage.write_mirror,
            )
            if stage.was_empty and report.outcome is Outcome.REPAIRED:
                report.outcome = Outcome.IMPORTED
            error = report.detail
        except Exception as exc:
            report.outcome, error = Outcome.FAILED, f"{type(exc).__name__}: {exc}"
            report.detail = error
            log.exception("reconcile_failed", tenant_id=tenant_id, run_id=run_id)
        duration = round(time.monotonic() - started, 3)
        with unit_of_work(engine) as conn:
            planned_mirror.clear(conn, tenant_id)
            reconcile_store.finish_run(
                conn,
                run_id,
                outcome=report.outcome.value,
                counts=report.counts,
                error=error,
                now=utcnow(),
                duration=duration,
                destructive=report.destructive,
                members=report.members,
            )
            reconcile_items.prune_runs(conn, tenant_id, settings.reconcile_runs_kept)
            first = reconcile_items.list_items(conn, run_id, limit=REPORTED_ITEMS)
            halted_list = (
                reconcile_items.list_items(conn, run_id, destructive=True, limit=REPORTED_ITEMS)
                if report.outcome is Outcome.HALTED
                else []
            )
    result: dict[str, Any] = asdict(report)
    result.update(
        outcome=report.outcome.value,
        run_id=run_id,
        source=spec.label,
        duration_seconds=duration,
        drift=report.drift,
        items=first,
        more_items=max(report.drift - len(first), 0),
    )
    if report.outcome is Outcome.HALTED:
        result["would_remove_or_deactivate"] = halted_list
    return result
