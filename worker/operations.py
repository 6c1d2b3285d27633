"""Operator actions shared by the CLI, the dashboard and the admin API."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from reconciler.errors import NotFound
from storage import outbox, tenants
from storage.clock import utcnow
from storage.db import unit_of_work
from storage.schema import reconcile_runs
from worker.connections import get_engine
from worker.publish import kick


def list_dead_letters(tenant_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    with unit_of_work(get_engine(), write=False) as conn:
        if tenant_id:
            tenants.get(conn, tenant_id)  # an unknown tenant is an error, not "(none)"
        return [dict(r._mapping) for r in outbox.list_dead_letters(conn, tenant_id, limit)]


def _check_known(conn: Any, ids: Sequence[int] | None) -> None:
    """Named ids must all be dead letters: "replayed 0" for a mistyped id hides the typo."""
    missing = outbox.unknown_dead_letters(conn, ids) if ids else []
    if missing:
        listed = ", ".join(str(i) for i in missing[:10]) + (" ..." if len(missing) > 10 else "")
        raise NotFound(f"dead letter(s) not found: {listed}; nothing was changed")


def replay_dead_letters(ids: Sequence[int] | None, *, strict: bool = False) -> dict[str, Any]:
    """`strict`: every id in `ids` must be a dead letter, or nothing is replayed (the CLI);
    the dashboard's button may race another operator and replays what is left."""
    with unit_of_work(get_engine()) as conn:
        if strict:
            _check_known(conn, ids)
        replayed = outbox.replay_dead_letters(conn, ids)
    affected = sorted({tenant for _, tenant in replayed})
    for tenant_id in affected:
        # Redis down: the relay republishes them (published_at is NULL).
        with contextlib.suppress(Exception):
            kick(tenant_id, force=True)
    return {"replayed": len(replayed), "tenants": affected}


def purge_dead_letters(ids: Sequence[int] | None, *, strict: bool = False) -> int:
    with unit_of_work(get_engine()) as conn:
        if strict:
            _check_known(conn, ids)
        return outbox.purge_dead_letters(conn, ids)


def _last_reconcile(conn: Any, tenant_id: str) -> dict[str, Any] | None:
    row = conn.execute(
        select(reconcile_runs.c.id, reconcile_runs.c.outcome, reconcile_runs.c.finished_at)
        .where(reconcile_runs.c.tenant_id == tenant_id)
        .order_by(reconcile_runs.c.id.desc())
        .limit(1)
    ).first()
    return dict(row._mapping) if row else None


def pipeline_status() -> list[dict[str, Any]]:
    now = utcnow()
    rows = []
    with unit_of_work(get_engine(), write=False) as conn:
        for tenant in tenants.list_all(conn):
            status = outbox.pipeline_status(conn, tenant.id, now=now)
            last = _last_reconcile(conn, tenant.id)
            rows.append(
                {
                    **status.__dict__,
                    "name": tenant.name,
                    "last_reconcile": f"{last['outcome']} {last['finished_at']}" if last else None,
                }
            )
    return rows
