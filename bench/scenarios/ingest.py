"""1 · Ingest: durable-accept rate of POST /Users, vs scim2-server under the same load.

A 201 from scim-sync means the user and its change event are committed in SQL
(and the apply task published); a 201 from scim2-server means a dict in memory.
Same bodies, same concurrency, same client. Ours is measured twice: the API
alone, and with a worker applying the events at the same time (as deployed).
The client is wrk when it is installed (bench/wrk.py: the asyncio client's own
ceiling is too low to tell these servers apart), else the asyncio client.
"""

from __future__ import annotations

from bench import loadgen, wrk
from bench.harness import stack
from bench.payloads import user_body
from bench.report import Row, Target
from bench.scenarios import ScenarioContext
from bench.servers import reference_server, stub_server

TARGET = Target("≥ 2x anchor", min_ratio=2.0)
WARMUP = 50
MAX_RATE = 3000  # bodies prepared per second of a wrk run: each is sent at most once
NEAR_CEILING = 0.7  # a server this close to the client's own ceiling is measured by the client


def post_users(base: str, first: int, count: int) -> list[loadgen.Job]:
    return [
        loadgen.request("POST", f"{base}/Users", json=user_body(i))
        for i in range(first, first + count)
    ]


def measure(
    ctx: ScenarioContext, base: str, headers: dict[str, str], first: int
) -> loadgen.LoadResult:
    """POST /Users of new users (indexes from `first`), after a warm-up."""
    s = ctx.sizes
    if wrk.available():
        seconds = s.ingest_seconds
        count = int(seconds * MAX_RATE)
        workdir = ctx.root / "wrk"
        wrk.run(
            f"{base}/Users",
            (user_body(i) for i in range(first, first + MAX_RATE)),
            workdir=workdir,
            seconds=1,
            connections=s.ingest_concurrency,
            headers=headers,
        )
        return wrk.run(
            f"{base}/Users",
            (user_body(i) for i in range(first + MAX_RATE, first + MAX_RATE + count)),
            workdir=workdir,
            seconds=seconds,
            connections=s.ingest_concurrency,
            headers=headers,
        )
    conc = s.ingest_concurrency
    loadgen.run_closed(post_users(base, first, WARMUP), concurrency=conc, headers=headers)
    return loadgen.run_closed(
        post_users(base, first + WARMUP, s.ingest_requests), concurrency=conc, headers=headers
    )


def client_label(ctx: ScenarioContext) -> str:
    s = ctx.sizes
    if wrk.available():
        return f"wrk for {s.ingest_seconds:g} s after 1 s of warm-up"
    return f"{s.ingest_requests:,} POSTs after {WARMUP} warm-up (asyncio client)"


def _anchor(ctx: ScenarioContext) -> loadgen.LoadResult:
    ctx.progress("scim2-server: POST /Users")
    with reference_server(ctx.root, say=ctx.progress) as ref:
        return measure(ctx, ref.base_url, ref.headers, 0)


def _ceiling(ctx: ScenarioContext) -> float:
    """What the load generator itself can do here, against a server that does nothing."""
    ctx.progress("load generator ceiling (no-op stub)")
    with stub_server(ctx.root) as url:
        return measure(ctx, url, {}, 0).rate(201)


def run(ctx: ScenarioContext) -> list[Row]:
    s = ctx.sizes
    anchor = ctx.once("ingest.anchor", lambda: _anchor(ctx))
    ceiling = ctx.once("ingest.ceiling", lambda: _ceiling(ctx))
    results = {}
    with stack(ctx.backend, ctx.root, ctx.progress) as st:
        tenant = st.create_tenant()
        base = tenant.scim_base(st.start_api())
        ctx.progress("scim-sync: POST /Users, API alone")
        results["API alone"] = measure(ctx, base, tenant.headers, 0)
        if s.ingest_with_worker:
            st.start_worker(s.worker_concurrency)
            ctx.progress("scim-sync: POST /Users, worker applying")
            results["worker applying meanwhile"] = measure(ctx, base, tenant.headers, 1_000_000)
    setup = (
        f"{client_label(ctx)}, {s.ingest_concurrency} connections, same bodies and "
        f"client for both; the client alone reaches "
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
