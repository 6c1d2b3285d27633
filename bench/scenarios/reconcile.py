"""5 · Reconcile: a full pass over a tenant with no drift, at two sizes.

The tenant (users in groups of 50, each user in five groups: 2,000 groups and
500,000 memberships at 100,000 users, as issue 5 asks, on both backends) is
seeded by bulk SQL and applied in this process through the real apply path, so
workspace and mirror agree; the pass must find nothing to repair. Then
`scimsync reconcile TENANT --json` runs as its own process: wall time and peak
RSS (from wait4) are the figures. The anchor of the large run is the small one,
so the ratio is the growth for 10x the data. Not run when the full reconcile
is not in the tree yet: the rows then say so.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from bench.harness import BIN, stack
from bench.report import Row, Target
from bench.scenarios import ScenarioContext
from bench.seed import apply_all, seed_groups, seed_users


def available() -> str | None:
    """None when the full reconcile exists, else what is missing."""
    if find_spec("reconciler.full_run") is None:
        return "reconciler/full_run.py"
    from worker.cli.main import main

    return None if "reconcile" in main.commands else "the `scimsync reconcile` command"


def memberships(users: int, groups: int, per_user: int) -> list[list[int]]:
    """User indexes of each group: user i is in groups (i + k * step) % groups, k < per_user."""
    step = max(1, groups // per_user)
    members: list[list[int]] = [[] for _ in range(groups)]
    for i in range(users):
        for k in range(min(per_user, groups)):
            members[(i + k * step) % groups].append(i)
    return members


def run_measured(
    argv: list[str], env: dict[str, str], cwd: Path, ok: tuple[int, ...] = (0,)
) -> tuple[float, float, str]:
    """Run a command; (wall seconds, peak RSS in MB from wait4, stdout). Raises on an exit
    code not in `ok` (a dry run that finds drift exits 3)."""
    out, err = cwd / "reconcile.out", cwd / "reconcile.err"
    started = time.monotonic()
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=stdout, stderr=stderr)
        _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so Popen must not wait
    if proc.returncode not in ok:
        raise RuntimeError(f"{argv[1]} exited {proc.returncode}: {err.read_text()[-500:]}")
    return seconds, usage.ru_maxrss / 1024, out.read_text()


@dataclass(frozen=True)
class Layout:
    users: int
    groups: int
    per_user: int  # groups each user belongs to

    @property
    def label(self) -> str:
        return (
            f"{self.users:,} users / {self.groups:,} groups / "
            f"{self.users * self.per_user:,} memberships"
        )


def layouts(ctx: ScenarioContext) -> tuple[Layout, Layout]:
    """The small and the large tenant of this backend."""
    s = ctx.sizes
    sizes = s.reconcile_users if ctx.backend == "postgres" else s.reconcile_users_sqlite
    per_user = s.reconcile_groups_per_user
    small, large = (
        Layout(n, max(per_user, n // s.reconcile_users_per_group), per_user) for n in sizes
    )
    return small, large


def measure(ctx: ScenarioContext, shape: Layout) -> tuple[float, float, float, dict[str, Any]]:
    """(seconds, peak RSS MB, seconds spent seeding, the run's JSON report)."""
    with stack(ctx.backend, ctx.root, ctx.progress) as st:
        tenant = st.create_tenant()
        started = time.monotonic()
        ids = seed_users(
            st.engine, tenant.id, range(shape.users), events=True, progress=ctx.progress
        )
        groups = memberships(shape.users, shape.groups, shape.per_user)
        seed_groups(
            st.engine,
            tenant.id,
            [(g, [ids[i] for i in indexes]) for g, indexes in enumerate(groups)],
            events=True,
            progress=ctx.progress,
        )
        apply_all(st.engine, tenant.id, progress=ctx.progress)
        seeded = time.monotonic() - started
        ctx.progress(f"scimsync reconcile over {shape.label}")
        seconds, peak_mb, out = run_measured(
            [str(BIN / "scimsync"), "reconcile", tenant.id, "--json"], st.service_env(), st.workdir
        )
    return seconds, peak_mb, seeded, json.loads(out)


def _drift(report: dict[str, Any]) -> str:
    """Empty when the pass found nothing to repair, as it must on a drift-free tenant."""
    if report.get("outcome") == "in_sync" and not report.get("counts"):
        return ""
    return (
        f"; CHECK FAILED: the pass was not a no-op (outcome {report.get('outcome')!r}, "
        f"counts {report.get('counts')})"
    )


def _unavailable(ctx: ScenarioContext, missing: str) -> list[Row]:
    note = f"not available: {missing} is not in the tree yet"
    label = layouts(ctx)[1].label
    return [
        ctx.row(f"full reconcile, no drift, {label}", "s", None, note=note),
        ctx.row("peak RSS of that pass", "MB", None),
    ]


def run(ctx: ScenarioContext) -> list[Row]:
    missing = available()
    if missing:
        return _unavailable(ctx, missing)
    small, large = layouts(ctx)
    t_small, rss_small, _, report_small = measure(ctx, small)
    t_large, rss_large, seeded, report_large = measure(ctx, large)
    growth = Target("≤ 60 s and ≤ 12x the small run", max_value=60.0, max_ratio=12.0)
    anchor_label = f"{small.users:,} users"
    return [
        ctx.row(
            f"full reconcile, no drift, {large.label}",
            "s",
            t_large,
            anchor=t_small,
            anchor_label=anchor_label,
            target=growth,
            note=f"`scimsync reconcile --json` as its own process; tenant seeded by bulk SQL "
            f"+ in-process apply in {seeded:.0f} s" + _drift(report_large) + _drift(report_small),
        ),
        ctx.row(
            "peak RSS of that pass",
            "MB",
            rss_large,
            anchor=rss_small,
            anchor_label=anchor_label,
            target=Target("≤ 400 MB", max_value=400.0),
        ),
    ]
