"""Run a full reconcile of one tenant: the lock, the report row, the source, the run.

Shared by `scimsync reconcile`, the Celery task and the dashboard. One run per
tenant at a time, however many beat processes or operators ask: a Redis lock
with a TTL, renewed as the run makes progress (a killed run frees it on expiry).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from functools import partial
from typing import Any

import structlog
from redis.lock import Lock

from events.sources.mirror_repair import apply_repair, plan_repair
from events.sources.readers import iter_source, parse_source
from reconciler.full_run import ReconcileReport, SafetyValve, reconcile_tenant
from storage import reconcile_store, tenants
from storage.clock import utcnow
from storage.db import unit_of_work
from storage.reconcile_store import SqlReconcileStore
from worker.connections import get_engine, redis_client
from worker.publish import publish
from worker.settings import get_settings

log = structlog.get_logger(__name__)
LOCK_TTL_SECONDS = 300


class AlreadyRunning(Exception):
    """Another full reconcile of this tenant holds the lock."""


def _lock(tenant_id: str) -> Lock:
    return redis_client().lock(
        f"scimsync:reconcile-lock:{tenant_id}", timeout=LOCK_TTL_SECONDS, blocking=False
    )


@contextmanager
def _open_store(engine: Any, write: bool) -> Iterator[SqlReconcileStore]:
    with unit_of_work(engine, write=write) as conn:
        yield SqlReconcileStore(conn, lock_tenant=write)


def run_reconcile(
    tenant_id: str,
    *,
    dry_run: bool = False,
    force: bool = False,
    source: str = "mirror",
    progress: Callable[[str, int], None] | None = None,
) -> dict[str, Any]:
    settings = get_settings()
    safety = SafetyValve(settings.reconcile_safety_ratio)
    engine = get_engine()
    spec = parse_source(source)
    with unit_of_work(engine, write=False) as conn:
        tenants.get(conn, tenant_id)
    lock = _lock(tenant_id)
    if not lock.acquire():
        raise AlreadyRunning(f"a full reconcile of {tenant_id} is already running")
    started = time.monotonic()
    with unit_of_work(engine) as conn:
        run_id = reconcile_store.start_run(
            conn, tenant_id, source=spec.label, dry_run=dry_run, forced=force, now=utcnow()
        )

    def on_progress(stage: str, n: int) -> None:
        lock.reacquire()
        if progress:
            progress(stage, n)

    outcome: str = "failed"
    error: str | None = "interrupted"
    report: ReconcileReport | None = None
    try:
        mirror_counts: dict[str, int] = {}
        if spec.kind != "mirror":
            plan = plan_repair(engine, tenant_id, iter_source(spec))
            mirror_counts = plan.counts()
            with unit_of_work(engine, write=False) as conn:
                total = SqlReconcileStore(conn).member_count(tenant_id)
            if not dry_run and not force and safety.trips(plan.destructive, total):
                report = ReconcileReport(
                    tenant_id, dry_run, members=total, destructive=plan.destructive
                )
                safety.halt(report)
            elif not dry_run:
                apply_repair(engine, tenant_id, plan, publish=partial(publish, engine))
        if report is None:
            report = reconcile_tenant(
                lambda write: _open_store(engine, write),
                tenant_id,
                dry_run=dry_run,
                force=force,
                safety=safety,
                progress=on_progress,
            )
        report.counts = {**mirror_counts, **report.counts}
        outcome, error = report.outcome, report.detail
    except Exception as exc:
        outcome, error, report = "failed", f"{type(exc).__name__}: {exc}", None
        log.exception("reconcile_failed", tenant_id=tenant_id)
    finally:
        duration = round(time.monotonic() - started, 3)
        with unit_of_work(engine) as conn:
            reconcile_store.finish_run(
                conn,
                run_id,
                outcome=outcome,
                counts=report.counts if report else {},
                actions=report.actions if report else [],
                error=error,
                now=utcnow(),
                duration=duration,
            )
        with contextlib.suppress(Exception):  # expired: nothing to release
            lock.release()
    result: dict[str, Any] = asdict(report) if report else {"outcome": outcome, "detail": error}
    result.update(run_id=run_id, source=spec.label, duration_seconds=duration)
    return result
