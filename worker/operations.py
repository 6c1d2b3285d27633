"""Operator actions shared by the CLI, the dashboard and the admin API."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from storage import outbox, tenants
from storage.clock import utcnow
from storage.db import unit_of_work
from storage.schema import reconcile_runs
from worker.connections import get_engine
from worker.publish import kick


def list_dead_letters(tenant_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    with unit_of_work(get_engine(), write=False) as conn:
        return [dict(r._mapping) for r in outbox.list_dead_letters(conn, tenant_id, limit)]


def replay_dead_letters(ids: Sequence[int] | None) -> dict[str, Any]:
    with unit_of_work(get_engine()) as conn:
        replayed = outbox.replay_dead_letters(conn, ids)
    affected = sorted({tenant for _, tenant in replayed})
    for tenant_id in affected:
        # Redis down: the relay republishes them (published_at is NULL).
        with contextlib.suppress(Exception):
            kick(tenant_id, force=True)
    return {"replayed": len(replayed), "tenants": affected}


def purge_dead_letters(ids: Sequence[int] | None) -> int:
    with unit_of_work(get_engine()) as conn:
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
