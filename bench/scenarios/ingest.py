"""1 · Ingest: durable-accept rate of POST /Users, vs scim2-server under the same load.

A 201 from scim-sync means the user and its change event are committed in SQL
(and the apply task published); a 201 from scim2-server means a dict in memory.
Same bodies, same concurrency, same client. Ours is measured twice: the API
alone, and with a worker applying the events at the same time (as deployed).
"""

from __future__ import annotations

from bench import loadgen
from bench.harness import stack
from bench.payloads import user_body
from bench.report import Row, Target
from bench.scenarios import ScenarioContext
from bench.servers import reference_server, stub_server

TARGET = Target("≥ 2x anchor", min_ratio=2.0)
WARMUP = 50
NEAR_CEILING = 0.7  # a server this close to the client's own ceiling is measured by the client


def post_users(base: str, first: int, count: int) -> list[loadgen.Job]:
    return [
        loadgen.request("POST", f"{base}/Users", json=user_body(i))
        for i in range(first, first + count)
    ]


def measure(
    base: str, headers: dict[str, str], first: int, count: int, concurrency: int
) -> loadgen.LoadResult:
    loadgen.run_closed(post_users(base, first, WARMUP), concurrency=concurrency, headers=headers)
    return loadgen.run_closed(
        post_users(base, first + WARMUP, count), concurrency=concurrency, headers=headers
    )


def _anchor(ctx: ScenarioContext) -> loadgen.LoadResult:
    ctx.progress("scim2-server: POST /Users")
    with reference_server(ctx.root, say=ctx.progress) as ref:
        return measure(
            ref.base_url, ref.headers, 0, ctx.sizes.ingest_requests, ctx.sizes.ingest_concurrency
        )


def _ceiling(ctx: ScenarioContext) -> float:
    """What the load generator itself can do here, against a server that does nothing."""
    ctx.progress("load generator ceiling (no-op stub)")
    s = ctx.sizes
    with stub_server(ctx.root) as url:
        return measure(url, {}, 0, s.ingest_requests, s.ingest_concurrency).rate(201)


def run(ctx: ScenarioContext) -> list[Row]:
    s = ctx.sizes
    anchor = ctx.once("ingest.anchor", lambda: _anchor(ctx))
    ceiling = ctx.once("ingest.ceiling", lambda: _ceiling(ctx))
    results = {}
    with stack(ctx.backend, ctx.root, ctx.progress) as st:
        tenant = st.create_tenant()
        base = tenant.scim_base(st.start_api())
        ctx.progress("scim-sync: POST /Users, API alone")
        results["API alone"] = measure(
            base, tenant.headers, 0, s.ingest_requests, s.ingest_concurrency
        )
        if s.ingest_with_worker:
            st.start_worker(s.worker_concurrency)
            ctx.progress("scim-sync: POST /Users, worker applying")
            results["worker applying meanwhile"] = measure(
                base, tenant.headers, 100_000, s.ingest_requests, s.ingest_concurrency
            )
    setup = (
        f"{s.ingest_requests:,} POSTs after {WARMUP} warm-up, {s.ingest_concurrency} "
        f"concurrent, same bodies and client for both; the client alone reaches "
        f"{ceiling:,.0f} req/s against a no-op stub on this machine"
    )
    if anchor.rate(201) > NEAR_CEILING * ceiling:
        setup += (
            f"; scim2-server ran at {anchor.rate(201) / ceiling:.0%} of that ceiling, so its own "
            f"limit may be higher and the ratio is an upper bound"
        )
    anchor_failed = anchor.describe_failures(201)
    rows: list[Row] = []
    for label, result in results.items():
        problems = [
            setup if not rows else "",
            result.describe_failures(201),
            f"scim2-server: {anchor_failed}" if anchor_failed and not rows else "",
        ]
        rows.append(
            ctx.row(
                f"POST /Users durable accepts ({label})",
                "/s",
                result.rate(201),
                anchor=anchor.rate(201),
                anchor_label="scim2-server",
                target=TARGET,
                note="; ".join(filter(None, problems)),
            )
        )
    return rows
