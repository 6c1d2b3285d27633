"""The drift items of reconcile runs: written in batches as a run plans, read a page at a
time (a run of 100,000 users' drift never sits in memory), pruned with their runs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, delete, func, select

from reconciler.drift import DriftItem
from storage.bulk import insert_rows
from storage.schema import reconcile_items, reconcile_runs

ITEM_COLUMNS = (
    "seq",
    "kind",
    "resource_type",
    "scim_id",
    "name",
    "before",
    "after",
    "consequence",
    "destructive",
)


def add_items(
    conn: Connection, run_id: int, tenant_id: str, first_seq: int, items: Sequence[DriftItem]
) -> int:
    """Store one batch of a run's items numbered from `first_seq`; returns the next number."""
    if not items:
        return first_seq
    rows = [
        {
            "run_id": run_id,
            "seq": first_seq + n,
            "tenant_id": tenant_id,
            "kind": item.kind.value,
            "resource_type": item.resource_type,
            "scim_id": item.scim_id[:200],
            "name": item.name[:400] if item.name else None,
            "name_ci": item.name.lower()[:400] if item.name else None,
            "before": item.before,
            "after": item.after,
            "consequence": item.consequence,
            "destructive": item.destructive,
        }
        for n, item in enumerate(items)
    ]
    insert_rows(conn, reconcile_items, rows)
    return first_seq + len(items)


def list_items(
    conn: Connection,
    run_id: int,
    *,
    kinds: Sequence[str] = (),
    destructive: bool | None = None,
    after_seq: int = -1,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """One page of a run's items in order (keyset: pass the last `seq` seen)."""
    columns = [reconcile_items.c[name] for name in ITEM_COLUMNS]
    query = select(*columns).where(
        reconcile_items.c.run_id == run_id, reconcile_items.c.seq > after_seq
    )
    if kinds:
        query = query.where(reconcile_items.c.kind.in_(list(kinds)))
    if destructive is not None:
        query = query.where(reconcile_items.c.destructive.is_(destructive))
    query = query.order_by(reconcile_items.c.seq).limit(limit)
    return [dict(row._mapping) for row in conn.execute(query)]


def count_items(
    conn: Connection, run_id: int, *, kinds: Sequence[str] = (), destructive: bool | None = None
) -> int:
    query = select(func.count()).where(reconcile_items.c.run_id == run_id)
    if kinds:
        query = query.where(reconcile_items.c.kind.in_(list(kinds)))
    if destructive is not None:
        query = query.where(reconcile_items.c.destructive.is_(destructive))
    return int(conn.execute(query).scalar_one())


def items_about(
    conn: Connection,
    tenant_id: str,
    *,
    scim_id: str | None = None,
    name: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Items that named one person or group (by SCIM id or userName/displayName), newest
    run first, with their run's start time: a person's timeline reads these."""
    if scim_id is None and name is None:
        return []
    columns = [reconcile_items.c[c] for c in ITEM_COLUMNS]
    query = (
        select(
            reconcile_items.c.run_id,
            *columns,
            reconcile_runs.c.started_at,
            reconcile_runs.c.dry_run,
            reconcile_runs.c.source,
        )
        .join(reconcile_runs, reconcile_runs.c.id == reconcile_items.c.run_id)
        .where(reconcile_items.c.tenant_id == tenant_id)
    )
    if scim_id is not None:
        query = query.where(reconcile_items.c.scim_id == scim_id)
    if name is not None:
        query = query.where(reconcile_items.c.name_ci == name.lower())
    query = query.order_by(reconcile_items.c.run_id.desc(), reconcile_items.c.seq).limit(limit)
    return [dict(row._mapping) for row in conn.execute(query)]


def prune_runs(conn: Connection, tenant_id: str, keep: int) -> int:
    """Delete all but the last `keep` runs of the tenant, with their items."""
    cutoff = conn.execute(
        select(reconcile_runs.c.id)
        .where(reconcile_runs.c.tenant_id == tenant_id)
        .order_by(reconcile_runs.c.id.desc())
        .offset(max(keep, 1) - 1)
        .limit(1)
    ).scalar()
    if cutoff is None:
        return 0
    old = select(reconcile_runs.c.id).where(
        reconcile_runs.c.tenant_id == tenant_id, reconcile_runs.c.id < cutoff
    )
    conn.execute(delete(reconcile_items).where(reconcile_items.c.run_id.in_(old)))
    result = conn.execute(
        delete(reconcile_runs).where(
            reconcile_runs.c.tenant_id == tenant_id, reconcile_runs.c.id < cutoff
        )
    )
    return int(result.rowcount or 0)
