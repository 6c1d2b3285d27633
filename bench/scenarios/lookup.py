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


Levels = dict[int, tuple[loadgen.LoadResult, int]]  # in flight -> (result, lookups missed)


def measure(base: str, headers: dict[str, str], stored: int, plan: dict[int, int]) -> Levels:
    """Lookups of random stored users, `plan[c]` of them with c in flight, after a warm-up."""
    rng = random.Random(9)
    warmup = Misses()
    loadgen.run_closed(
        [warmup.job(base, rng.randrange(stored)) for _ in range(WARMUP)],
        concurrency=1,
        headers=headers,
    )
    levels: Levels = {}
    for concurrency, requests in plan.items():
        misses = Misses()
        jobs = [misses.job(base, rng.randrange(stored)) for _ in range(requests)]
        levels[concurrency] = (
            loadgen.run_closed(jobs, concurrency=concurrency, headers=headers),
            misses.count,
        )
    return levels


def _plan(ctx: ScenarioContext) -> dict[int, int]:
    s = ctx.sizes
    return {1: s.lookup_sequential_requests, s.lookup_concurrency: s.lookup_requests}


def _anchor(ctx: ScenarioContext) -> dict[str, Any]:
    stored = min(ctx.sizes.lookup_users, ctx.sizes.lookup_reference_users)
    ctx.progress(f"scim2-server: seeding {stored:,} users, then lookups")
    with reference_server(ctx.root, seed_users=stored, say=ctx.progress) as ref:
        levels = measure(ref.base_url, ref.headers, stored, _plan(ctx))
    return {"levels": levels, "stored": stored, "seed": ref.seed_seconds}


def _ms(result: loadgen.LoadResult, q: float) -> float:
    return 1000 * loadgen.percentile(result.latencies, q)


def run(ctx: ScenarioContext) -> list[Row]:
    s = ctx.sizes
    anchor = ctx.once("lookup.anchor", lambda: _anchor(ctx))
    with stack(ctx.backend, ctx.root, ctx.progress) as st:
        tenant = st.create_tenant()
        started = time.monotonic()
        seed_users(st.engine, tenant.id, range(s.lookup_users), events=False, progress=ctx.progress)
        seeded = time.monotonic() - started
        base = tenant.scim_base(st.start_api())
        ctx.progress("scim-sync: lookups")
        ours = measure(base, tenant.headers, s.lookup_users, _plan(ctx))
    theirs: Levels = anchor["levels"]
    misses = sum(m for _, m in ours.values())
    note = (
        f"{s.lookup_users:,} users seeded by bulk SQL in {seeded:.0f} s; scim2-server held "
        f"{anchor['stored']:,} users (seeded through its backend in {anchor['seed']:.0f} s); "
        f"{s.lookup_sequential_requests:,} lookups one at a time, then {s.lookup_requests:,} "
        f"with {s.lookup_concurrency} in flight, random users, same names for both"
    )
    if misses or any(m for _, m in theirs.values()):
        note += (
            f"; CHECK FAILED: {misses} lookups did not find their user "
            f"(scim2-server: {sum(m for _, m in theirs.values())})"
        )
    rows: list[Row] = []
    for concurrency, q, target in (
        (1, 0.99, TARGET),
        (s.lookup_concurrency, 0.99, TARGET),
        (s.lookup_concurrency, 0.5, None),
    ):
        row = ctx.row(
            f"userName eq lookup p{round(q * 100)}, {concurrency} in flight",
            "ms",
            _ms(ours[concurrency][0], q),
            anchor=_ms(theirs[concurrency][0], q),
            anchor_label="scim2-server",
            target=target,
            note="" if rows else note,
        )
        rows.append(row)
    return rows
