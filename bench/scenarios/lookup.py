"""2 · Lookup: `GET /Users?filter=userName eq "…"` latency with 100,000 users stored.

This is the query IdPs send before every write. Our users are seeded with bulk
SQL inserts (bench/seed.py: the rows the ingest would write), not 100,000 HTTP
calls; scim2-server is seeded through its own backend before it serves. Each
lookup must find exactly its user; the same random names go to both sides.
"""

from __future__ import annotations

import random
import time
from typing import Any

from bench import loadgen
from bench.harness import stack
from bench.payloads import user_filter
from bench.report import Row, Target
from bench.scenarios import ScenarioContext
from bench.seed import seed_users
from bench.servers import reference_server

TARGET = Target("≤ 20 ms", max_value=20.0)
WARMUP = 50


class Misses:
    """Lookups that answered but did not find exactly one user: a fast wrong answer is no answer."""

    def __init__(self) -> None:
        self.count = 0

    def job(self, base: str, index: int) -> loadgen.Job:
        async def lookup(session: loadgen.Session) -> None:
            response = await session.send(
                "GET", f"{base}/Users", params={"filter": user_filter(index)}
            )
            if (
                response is None
                or response.status_code != 200
                or response.json().get("totalResults") != 1
            ):
                self.count += 1

        return lookup


def measure(
    base: str, headers: dict[str, str], stored: int, requests: int, concurrency: int
) -> tuple[loadgen.LoadResult, int]:
    rng = random.Random(9)
    misses = Misses()
    loadgen.run_closed(
        [misses.job(base, rng.randrange(stored)) for _ in range(WARMUP)],
        concurrency=concurrency,
        headers=headers,
    )
    misses.count = 0
    result = loadgen.run_closed(
        [misses.job(base, rng.randrange(stored)) for _ in range(requests)],
        concurrency=concurrency,
        headers=headers,
    )
    return result, misses.count


def _anchor(ctx: ScenarioContext) -> dict[str, Any]:
    s = ctx.sizes
    stored = min(s.lookup_users, s.lookup_reference_users)
    ctx.progress(f"scim2-server: seeding {stored:,} users, then lookups")
    with reference_server(ctx.root, seed_users=stored, say=ctx.progress) as ref:
        result, misses = measure(
            ref.base_url, ref.headers, stored, s.lookup_requests, s.lookup_concurrency
        )
    return {"result": result, "misses": misses, "stored": stored, "seed": ref.seed_seconds}


def run(ctx: ScenarioContext) -> list[Row]:
    s = ctx.sizes
    anchor = ctx.once("lookup.anchor", lambda: _anchor(ctx))
    with stack(ctx.backend, ctx.root, ctx.progress) as st:
        tenant = st.create_tenant()
        started = time.monotonic()
        seed_users(st.engine, tenant.id, range(s.lookup_users), events=False, progress=ctx.progress)
        seeded = time.monotonic() - started
        base = tenant.scim_base(st.start_api())
        ctx.progress(f"scim-sync: {s.lookup_requests:,} lookups")
        ours, misses = measure(
            base, tenant.headers, s.lookup_users, s.lookup_requests, s.lookup_concurrency
        )
    ref: loadgen.LoadResult = anchor["result"]
    note = (
        f"{s.lookup_users:,} users seeded by bulk SQL in {seeded:.0f} s; scim2-server held "
        f"{anchor['stored']:,} users (seeded in-process in {anchor['seed']:.0f} s); "
        f"{s.lookup_requests:,} lookups, {s.lookup_concurrency} concurrent"
    )
    wrong = f"; {misses} lookups did not find their user" if misses else ""
    wrong += f"; scim2-server missed {anchor['misses']}" if anchor["misses"] else ""
    return [
        ctx.row(
            "userName eq lookup p99",
            "ms",
            1000 * loadgen.percentile(ours.latencies, 0.99),
            anchor=1000 * loadgen.percentile(ref.latencies, 0.99),
            anchor_label="scim2-server",
            target=TARGET,
            note=note + wrong,
        ),
        ctx.row(
            "userName eq lookup p50",
            "ms",
            1000 * loadgen.percentile(ours.latencies, 0.5),
            anchor=1000 * loadgen.percentile(ref.latencies, 0.5),
            anchor_label="scim2-server",
        ),
    ]
