"""Stored reconcile runs and their items, read for the CLI (a page of items at a time)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from storage import reconcile_items, reconcile_store, tenants
from storage.db import unit_of_work
from worker.connections import get_engine

PAGE = 1000


def get_run(run_id: int) -> dict[str, Any] | None:
    with unit_of_work(get_engine(), write=False) as conn:
        return reconcile_store.get_run(conn, run_id)


def list_runs(tenant_id: str, limit: int = 20) -> list[dict[str, Any]]:
    with unit_of_work(get_engine(), write=False) as conn:
        tenants.get(conn, tenant_id)  # an unknown tenant is an error, not "(no run)"
        return reconcile_store.recent_runs(conn, tenant_id, limit)


def iter_items(
    run_id: int, *, kinds: Sequence[str] = (), destructive: bool | None = None
) -> Iterator[dict[str, Any]]:
    after = -1
    while True:
        with unit_of_work(get_engine(), write=False) as conn:
            page = reconcile_items.list_items(
                conn, run_id, kinds=kinds, destructive=destructive, after_seq=after, limit=PAGE
            )
        yield from page
        if len(page) < PAGE:
            return
        after = page[-1]["seq"]
