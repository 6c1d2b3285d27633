"""9 · Reconcile from a SCIM directory: a first import and a no-drift pass from scim2-server.

scim2-server (the reference in-memory SCIM server, bench/reference.py) is seeded with
`scim_source_users` users through its own backend, then
`scimsync reconcile TENANT --source scim:URL --json` runs as its own process twice,
pulling the directory page by page with the token given by the setting (never in the
URL): the first run imports into an empty tenant (mirror and workspace), the second
must find nothing to do. Wall time and peak RSS (wait4) of each run are the figures;
the targets are the file source's (issue 17), at the issue's 10,000 users.
"""

from __future__ import annotations

import json
from typing import Any

from bench.harness import BIN, stack
from bench.report import Row, Target
from bench.scenarios import ScenarioContext
from bench.scenarios.reconcile import run_measured
from bench.servers import reference_server


def run(ctx: ScenarioContext) -> list[Row]:
    users = ctx.sizes.scim_source_users
    with (
        reference_server(ctx.root, users, ctx.progress) as directory,
        stack(ctx.backend, ctx.root, ctx.progress) as st,
    ):
        tenant = st.create_tenant()
        env = st.service_env(SCIMSYNC_RECONCILE_SOURCE_TOKEN=directory.token)
        argv = [
            str(BIN / "scimsync"),
            "reconcile",
            tenant.id,
            "--source",
            f"scim:{directory.base_url}",
        ]
        ctx.progress(f"first import from scim2-server holding {users:,} users")
        t_import, rss_import, out = run_measured([*argv, "--force", "--json"], env, st.workdir)
        first = json.loads(out)
        ctx.progress("no-drift pass from scim2-server")
        t_pass, rss_pass, out = run_measured([*argv, "--json"], env, st.workdir)
        second = json.loads(out)
    note = (
        f"`scimsync reconcile --source scim:URL --json` as its own process, pulling "
        f"{users:,} users from scim2-server (seeded in {directory.seed_seconds:.0f} s)"
    )
    label = f"{users:,} users"
    return [
        ctx.row(
            f"reconcile from scim2-server, first import, {label}",
            "s",
            t_import,
            target=Target("≤ 120 s", max_value=120.0),
            note=note + _check(first, "imported", users),
        ),
        ctx.row(
            "peak RSS of that import", "MB", rss_import, target=Target("≤ 400 MB", max_value=400.0)
        ),
        ctx.row(
            f"reconcile from scim2-server, no-drift pass, {label}",
            "s",
            t_pass,
            target=Target("≤ 60 s", max_value=60.0),
            note=note + _check(second, "in_sync", 0),
        ),
        ctx.row(
            "peak RSS of that pass", "MB", rss_pass, target=Target("≤ 400 MB", max_value=400.0)
        ),
    ]


def _check(report: dict[str, Any], outcome: str, created: int) -> str:
    counts = report.get("counts") or {}
    if report.get("outcome") == outcome and counts.get("user_created", 0) == created:
        return ""
    return f"; CHECK FAILED: outcome {report.get('outcome')!r}, counts {counts}"
