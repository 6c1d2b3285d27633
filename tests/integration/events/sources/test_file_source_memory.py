"""A source's plan holds one batch at a time: its peak memory does not grow with the size
of the export (measured with tracemalloc at 400 and 4,000 users, every one of them
drift; the 100,000-user figure is bench/'s file-source scenario, by RSS). Small sizes:
tracemalloc slows the validation of each resource several times over."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from events.sources.mirror_repair import plan_repair
from events.sources.readers import iter_source, parse_source
from storage import reconcile_store
from storage.clock import utcnow
from storage.db import unit_of_work
from tests.support.workspace import group_body, make_tenant, user_body


def write_export(path: Path, users: int) -> str:
    with path.open("w") as out:
        for i in range(users):
            out.write(json.dumps({**user_body(f"m{i:06d}@acme.test"), "id": f"s{i}"}) + "\n")
        for g in range(users // 50):
            members = [f"s{i}" for i in range(g * 50, g * 50 + 50)]
            out.write(json.dumps({**group_body(f"G{g}", members), "id": f"g{g}"}) + "\n")
    return f"file:{path}"


def planned_peak(engine: Any, tmp_path: Path, users: int) -> tuple[int, int]:
    """(peak traced bytes of the plan, items planned)."""
    tenant = make_tenant(engine, name=f"T{users}")
    spec = parse_source(write_export(tmp_path / f"e{users}.ndjson", users))
    with unit_of_work(engine) as conn:
        run_id = reconcile_store.start_run(
            conn, tenant.id, source=spec.label, dry_run=True, forced=False, now=utcnow()
        )
    seen = [0]

    def sink(items: Any, conn: Any = None) -> None:
        seen[0] += len(items)  # stored by the run; dropped here

    tracemalloc.start()
    try:
        plan_repair(engine, tenant.id, run_id, lambda kind: iter_source(spec, (kind,)), sink)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, seen[0]


@pytest.mark.slow
def test_the_plan_of_a_source_keeps_memory_flat(engine: Any, tmp_path: Path) -> None:
    small, small_items = planned_peak(engine, tmp_path, 400)
    large, large_items = planned_peak(engine, tmp_path, 4000)
    assert (small_items, large_items) == (408, 4080)  # every user and group is new
    print(f"plan peak: {small / 1e6:.1f} MB at 400 users, {large / 1e6:.1f} MB at 4,000")
    assert large < 1.5 * small + 2_000_000
