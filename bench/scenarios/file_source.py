"""8 · Reconcile from a file export: a first import, a no-drift pass, and a dry run and
a real run of 10% drift, at two sizes.

An IdP export is written as NDJSON (one SCIM resource per line: users, then groups of
50 with each user in five groups, the same shape as the reconcile scenario), and
`scimsync reconcile TENANT --source file:EXPORT --json` runs as its own process: the
first run imports the export into an empty tenant (mirror and workspace), the second
must find nothing to do; then an export with one user in ten changed is dry-run (the
workspace planned against the mirror as the export would leave it) and run for real,
which must list the same counts. Nothing is seeded by SQL: the CLI does all of it.
Wall time and peak RSS (wait4) of each run are the figures; the anchor of the large run
is the small one, so the ratio is the growth for 10x the data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.harness import BIN, stack
from bench.report import Row, Target
from bench.scenarios import ScenarioContext
from bench.scenarios.reconcile import Layout, layouts, memberships, run_measured

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


def write_export(path: Path, shape: Layout, domain: str, drift: bool = False) -> None:
    """The export, streamed to disk (never the whole document in memory). `drift`: one
    user in ten differs, half of those deactivated and half renamed."""
    with path.open("w") as out:
        for i in range(shape.users):
            name = f"user{i:06d}@{domain}"
            changed = drift and i % 10 == 0
            user = {
                "schemas": [USER],
                "id": f"src-u{i}",
                "userName": name,
                "name": {"givenName": "Renamed" if changed and i % 20 else f"User{i}"}
                | {"familyName": "Bench"},
                "emails": [{"value": name, "primary": True}],
                "active": not (changed and i % 20 == 0),
            }
            out.write(json.dumps(user) + "\n")
        for g, indexes in enumerate(memberships(shape.users, shape.groups, shape.per_user)):
            group = {
                "schemas": [GROUP],
                "id": f"src-g{g}",
                "displayName": f"Group {g:05d}",
                "members": [{"value": f"src-u{i}"} for i in indexes],
            }
            out.write(json.dumps(group) + "\n")


def measure(ctx: ScenarioContext, shape: Layout) -> dict[str, Any]:
    with stack(ctx.backend, ctx.root, ctx.progress) as st:
        tenant = st.create_tenant()
        export = st.workdir / f"export-{shape.users}.ndjson"
        write_export(export, shape, "example.com")
        megabytes = export.stat().st_size / 1e6
        argv = [str(BIN / "scimsync"), "reconcile", tenant.id, "--source", f"file:{export}"]
        ctx.progress(f"first import from file over {shape.label}")
        t_import, rss_import, out = run_measured([*argv, "--force", "--json"], *_env(st))
        first = json.loads(out)
        ctx.progress(f"no-drift pass from file over {shape.label}")
        t_pass, rss_pass, out = run_measured([*argv, "--json"], *_env(st))
        second = json.loads(out)
        drifted = st.workdir / f"drift-{shape.users}.ndjson"
        write_export(drifted, shape, "example.com", drift=True)
        argv[-1] = f"file:{drifted}"
        ctx.progress(f"10% drift from file over {shape.label}: dry run, then the real run")
        t_dry, rss_dry, out = run_measured([*argv, "--dry-run", "--json"], *_env(st), ok=(3,))
        dry = json.loads(out)
        t_real, rss_real, out = run_measured([*argv, "--json"], *_env(st))
        real = json.loads(out)
        if dry.get("counts") != real.get("counts"):  # the same items, by kind
            real["outcome"] = f"counts differ from the dry run's: {dry.get('counts')}"
    return {
        "import": (t_import, rss_import, first),
        "pass": (t_pass, rss_pass, second),
        "dry": (t_dry, rss_dry, dry),
        "drift": (t_real, rss_real, real),
        "mb": megabytes,
    }


def _env(st: Any) -> tuple[dict[str, str], Path]:
    return st.service_env(), st.workdir


def _check(report: dict[str, Any], outcome: str) -> str:
    if report.get("outcome") == outcome:
        return ""
    return f"; CHECK FAILED: outcome {report.get('outcome')!r}, counts {report.get('counts')}"


def run(ctx: ScenarioContext) -> list[Row]:
    small, large = layouts(ctx)
    a, b = measure(ctx, small), measure(ctx, large)
    anchor = f"{small.users:,} users"
    note = "`scimsync reconcile --source file:EXPORT --json` as its own process"
    rows = []
    for key, what, limit, outcome in (
        ("import", "first import", 120.0, "imported"),
        ("pass", "no-drift pass", 60.0, "in_sync"),
        ("dry", "dry run of 10% drift", 120.0, "drift_found"),
        ("drift", "real run of that drift", 120.0, "repaired"),
    ):
        t_small, rss_small, _ = a[key]
        t_large, rss_large, report = b[key]
        rows.append(
            ctx.row(
                f"reconcile from file, {what}, {large.label}",
                "s",
                t_large,
                anchor=t_small,
                anchor_label=anchor,
                target=Target(
                    f"≤ {limit:.0f} s and ≤ 12x the small run", max_value=limit, max_ratio=12.0
                ),
                note=note + _check(report, outcome) + _check(a[key][2], outcome),
            )
        )
        rows.append(
            ctx.row(
                f"peak RSS of that {what}",
                "MB",
                rss_large,
                anchor=rss_small,
                anchor_label=anchor,
                target=Target("≤ 400 MB", max_value=400.0),
            )
        )
    return rows
