"""The admin API's reconcile runs: `/api/v1/workspaces/{tenant_id}/reconcile-runs[/{id}[/items]]`.

What `scimsync reconcile list|show` prints, for the workspace's own admin token: runs
newest first and a run's items in order, both paginated by keyset (`before` / `after` and
`limit`; the response names the next page's cursor). A run of another tenant is 404.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from events.admin.routes import Admin
from events.params import RowIdCursor, RowIdPath
from reconciler.errors import NotFound
from storage import reconcile_items, reconcile_store
from storage.db import unit_of_work

router = APIRouter(prefix="/api/v1/workspaces/{tenant_id}/reconcile-runs", tags=["admin"])
MAX_PAGE = 1000


def _run(conn: Any, tenant_id: str, run_id: int) -> dict[str, Any]:
    run = reconcile_store.get_run(conn, run_id)
    if run is None or run["tenant_id"] != tenant_id:
        raise NotFound(f"reconcile run {run_id} not found")
    return run


@router.get("")
def list_runs(
    ctx: Admin,
    before: RowIdCursor | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 20,
) -> dict[str, Any]:
    with unit_of_work(ctx.engine, write=False) as conn:
        runs = reconcile_store.recent_runs(conn, ctx.tenant_id, limit, before_id=before)
    return {"runs": runs, "next_before": runs[-1]["id"] if len(runs) == limit else None}


@router.get("/{run_id}")
def get_run(ctx: Admin, run_id: RowIdPath) -> dict[str, Any]:
    with unit_of_work(ctx.engine, write=False) as conn:
        return _run(conn, ctx.tenant_id, run_id)


@router.get("/{run_id}/items")
def list_items(
    ctx: Admin,
    run_id: RowIdPath,
    kind: Annotated[list[str] | None, Query()] = None,
    destructive: bool | None = None,
    after: RowIdCursor = -1,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> dict[str, Any]:
    with unit_of_work(ctx.engine, write=False) as conn:
        _run(conn, ctx.tenant_id, run_id)
        items = reconcile_items.list_items(
            conn, run_id, kinds=kind or (), destructive=destructive, after_seq=after, limit=limit
        )
        total = reconcile_items.count_items(conn, run_id, kinds=kind or (), destructive=destructive)
    return {
        "items": items,
        "total": total,
        "next_after": items[-1]["seq"] if len(items) == limit else None,
    }
