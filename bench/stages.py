"""`python -m bench.stages [--backend sqlite|postgres ...] [--requests N] [--rounds R]`.

Where the CPU time of one SCIM write goes, stage by stage: `POST /Users` (a new user)
and a group `PATCH` adding one member, one request at a time, on each backend. The
app is the real one (`events.app.create_app`) behind uvicorn's real HTTP protocol
(httptools), fed through an in-memory transport, on a private database and Redis
(bench/harness.py). Figures are CPU time of this process (bench/stage_clock.py): a
busy machine barely changes them, where it would change a rate or a latency several
times over. The database's and Redis' own CPU is not in them; the statement and round
trip counts stand for it.

Each round sends N requests bare (the total CPU per request, `process_time`), then N
instrumented (the stages, and the counts); each figure is the lowest of the rounds.
Prints a Markdown table; `--json PATH` keeps the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bench.payloads import add_members_patch, group_body, user_body
from bench.stage_client import Client, MemoryTransport
from bench.stage_clock import RoundTrips, StageClock, instrument, timed

REQUESTS, ROUNDS, GROUPS = 200, 5, 50
STAGE_ORDER = (
    "http parse",
    "body read",
    "body checks",
    "auth",
    "sql (auth)",
    "rate limit",
    "write logic",
    "validation",
    "patch apply",
    "sql (write logic)",
    "audit",
    "sql (audit)",
    "commit",
    "publish",
    "render",
    "members read",
    "sql (members read)",
    "sql (render)",
    "serialise",
    "http write",
    "metrics",
    "pool pre-ping",
)


@dataclass
class Figures:
    """One kind of request over every round."""

    bare: list[float] = field(default_factory=list)  # CPU s per request, per bare round
    instrumented: list[float] = field(default_factory=list)
    stages: list[dict[str, float]] = field(default_factory=list)  # CPU s per request, per round
    sql: Counter[str] = field(default_factory=Counter)
    redis: int = 0
    requests: int = 0  # instrumented requests

    def as_json(self) -> dict[str, Any]:
        """The lowest round of each figure: what contention elsewhere adds (cache misses,
        a shared core) only ever adds, so the minimum is the steadiest estimate."""
        n = max(self.requests, 1)
        names = {name for per_round in self.stages for name in per_round}
        return {
            "cpu_us_per_request": min(self.bare) * 1e6,
            "cpu_us_per_request_rounds": [x * 1e6 for x in self.bare],
            "instrumented_us_per_request": min(self.instrumented) * 1e6,
            "stages_us": {name: min(r.get(name, 0.0) for r in self.stages) * 1e6 for name in names},
            "sql_per_request": {k: v / n for k, v in self.sql.items()},
            "redis_round_trips_per_request": self.redis / n,
        }


async def _timed_round(
    requests: list[Callable[[], Any]], expect: int, clock: StageClock | None = None
) -> float:
    """CPU seconds per request of the whole process over `requests`, sent one by one."""
    started = time.process_time()
    for request in requests:
        status, body = await request()
        if status != expect:
            raise RuntimeError(f"expected {expect}, got {status}: {body}")
    return (time.process_time() - started) / len(requests)


@dataclass
class Service:
    """The app on one backend, its groups, and the requests the profile sends."""

    client: Client
    runtime: Any
    clock: StageClock
    groups: list[str]
    connect: Callable[[], Client]  # another connection to the same app
    created: list[str] = field(default_factory=list)
    next_user: int = 0

    async def post_user(self) -> tuple[int, Any]:
        self.next_user += 1
        status, body = await self.client.send("POST", "/Users", user_body(self.next_user))
        if status == 201:
            self.created.append(body["id"])
        return status, body

    def patch_group(self, i: int, user_id: str) -> Callable[[], Any]:
        path = f"/Groups/{self.groups[i % GROUPS]}"
        return lambda: self.client.send("PATCH", path, add_members_patch([user_id]))

    def patches(self, n: int) -> list[Callable[[], Any]]:
        """PATCHes adding `n` users not added yet, the newest first."""
        fresh, self.created[:] = self.created[-n:], self.created[:-n]
        return [self.patch_group(i, u) for i, u in enumerate(fresh)]


@asynccontextmanager
async def _service(backend: str, root: Path) -> AsyncIterator[Service]:
    from bench.harness import stack

    with stack(backend, root) as world:
        tenant = world.create_tenant(idp="okta")
        os.environ.update(
            {
                k: v
                for k, v in world.service_env().items()
                if k.startswith("SCIMSYNC_") and k != "SCIMSYNC_API_WORKERS"
            }
        )
        os.environ["SCIMSYNC_REDIS_URL"] = world.redis_url
        # Imported once the settings point at the private database and Redis.
        import uvicorn
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
        from uvicorn.server import ServerState

        from events.app import build_runtime, create_app
        from worker.settings import get_settings

        clock = StageClock()
        runtime = build_runtime(get_settings())
        runtime = replace(runtime, publish=timed(clock, "publish", runtime.publish))
        app = create_app(runtime)
        config = uvicorn.Config(app, http="httptools", lifespan="off", access_log=False)
        config.load()
        server_state = ServerState()

        def connect() -> Client:
            protocol = HttpToolsProtocol(config, server_state, {})
            transport = MemoryTransport()
            protocol.connection_made(transport)
            return Client(protocol, transport, tenant.id, tenant.token)

        client = connect()
        async with app.router.lifespan_context(app):
            groups = []
            for g in range(GROUPS):
                status, body = await client.send("POST", "/Groups", group_body(g))
                assert status == 201, body
                groups.append(body["id"])
            service = Service(client, runtime, clock, groups, connect)
            await _timed_round([service.post_user] * 50, 201)  # warm up: caches, pools, threads
            await _timed_round(service.patches(50), 200)
            yield service


async def _profile(backend: str, n: int, rounds: int, root: Path) -> dict[str, Any]:
    async with _service(backend, root) as service:
        counts = RoundTrips()
        healthz = lambda: service.client.get("/healthz")  # noqa: E731
        figures = {"POST /Users": Figures(), "PATCH /Groups (add 1 member)": Figures()}
        floor = [await _timed_round([healthz] * n, 200) for _ in range(rounds)]
        for _ in range(rounds):
            for name, expect in (("POST /Users", 201), ("PATCH /Groups (add 1 member)", 200)):
                fig = figures[name]
                for instrumented in (False, True):
                    batch = [service.post_user] * n if expect == 201 else service.patches(n)
                    if not instrumented:
                        fig.bare.append(await _timed_round(batch, expect))
                        continue
                    service.clock.reset()
                    counts.reset()
                    with instrument(service.clock, counts, service.runtime.engine):
                        fig.instrumented.append(await _timed_round(batch, expect))
                    fig.stages.append({k: v / n for k, v in service.clock.cpu.items()})
                    fig.sql.update(counts.sql)
                    fig.redis += counts.redis
                    fig.requests += n
        concurrent = await _concurrent_posts(service, counts, n)
    result = {name: fig.as_json() for name, fig in figures.items()}
    result["GET /healthz"] = {"cpu_us_per_request": min(floor) * 1e6}
    result[f"POST /Users, {IN_FLIGHT} in flight"] = concurrent
    return result


IN_FLIGHT = 8


async def _concurrent_posts(service: Service, counts: RoundTrips, n: int) -> dict[str, Any]:
    """`n` POSTs over IN_FLIGHT connections at once: what concurrent requests share
    (the kick's Redis round trip, KickBatcher in worker/publish.py)."""
    clients = [service.connect() for _ in range(IN_FLIGHT)]

    async def one_connection(client: Client, count: int) -> None:
        for _ in range(count):
            service.next_user += 1
            status, body = await client.send("POST", "/Users", user_body(service.next_user))
            if status != 201:
                raise RuntimeError(f"expected 201, got {status}: {body}")

    # Warm up: each thread of the pool opens its own Redis and SQL connections once.
    await asyncio.gather(*(one_connection(c, 2) for c in clients))
    counts.reset()
    per_client = max(1, n // IN_FLIGHT)
    with instrument(StageClock(), counts, service.runtime.engine):
        await asyncio.gather(*(one_connection(c, per_client) for c in clients))
    total = per_client * IN_FLIGHT
    return {
        "redis_round_trips_per_request": counts.redis / total,
        "sql_per_request": {k: v / total for k, v in counts.sql.items()},
    }


async def _fixed(backend: str, posts: int, patches: int, root: Path) -> dict[str, Any]:
    """`posts` POSTs then `patches` PATCHes, bare: a run whose instructions valgrind counts."""
    async with _service(backend, root) as service:
        await _timed_round([service.post_user] * posts, 201)
        if patches:
            await _timed_round(service.patches(patches), 200)
    return {}


# Runs whose instruction counts differ by exactly the requests measured: (POSTs, PATCHes).
INSTRUCTION_RUNS = ((20, 20), (120, 20), (120, 120))


def _instructions(backend: str) -> dict[str, Any]:
    """Instructions per request counted by valgrind (cachegrind, no cache simulation): the
    same on an idle and a busy machine. Three runs that differ by 100 POSTs, then by 100
    PATCHes; setup and warm-up cancel out in the differences."""
    counted = []
    for posts, patches in INSTRUCTION_RUNS:
        out = subprocess.run(
            [
                *("valgrind", "--tool=cachegrind", "--cache-sim=no"),
                "--cachegrind-out-file=/dev/null",
                *(sys.executable, "-m", "bench.stages", "--child", "--backend", backend),
                *("--posts", str(posts), "--patches", str(patches)),
            ],
            capture_output=True,
            text=True,
            env={k: v for k, v in os.environ.items() if not k.startswith("SCIMSYNC_")},
        )
        found = re.search(r"I\s+refs:\s+([\d,]+)", out.stderr)
        if out.returncode != 0 or found is None:
            raise RuntimeError(f"valgrind run failed: {out.stderr[-2000:]}")
        counted.append(int(found.group(1).replace(",", "")))
    (p1, q1), (p2, _), (_, q3) = INSTRUCTION_RUNS
    return {
        "POST /Users": {"instructions_per_request": (counted[1] - counted[0]) / (p2 - p1)},
        "PATCH /Groups (add 1 member)": {
            "instructions_per_request": (counted[2] - counted[1]) / (q3 - q1)
        },
    }


def table(results: dict[str, dict[str, Any]]) -> str:
    """The Markdown table: one column per backend and request, µs of CPU per request."""
    columns = [(b, r) for b, per in results.items() for r in per if "stages_us" in per[r]]
    concurrent = f"POST /Users, {IN_FLIGHT} in flight"
    header = "| stage | " + " | ".join(f"{r} · {b}" for b, r in columns) + " |"
    lines = [header, "|---" * (len(columns) + 1) + "|"]

    def cell(b: str, r: str, stage: str) -> str:
        value = results[b][r]["stages_us"].get(stage)
        return f"{value:.0f}" if value is not None else "-"

    stages = [s for s in STAGE_ORDER if any(s in results[b][r]["stages_us"] for b, r in columns)]
    extra = sorted({s for b, r in columns for s in results[b][r]["stages_us"]} - set(stages))
    for stage in [*stages, *extra]:
        lines.append(f"| {stage} | " + " | ".join(cell(b, r, stage) for b, r in columns) + " |")

    def row(label: str, value: Callable[[dict[str, Any]], str]) -> None:
        lines.append(f"| {label} | " + " | ".join(value(results[b][r]) for b, r in columns) + " |")

    row(
        "framework + other (instrumented total - stages)",
        lambda f: f"{f['instrumented_us_per_request'] - sum(f['stages_us'].values()):.0f}",
    )
    row("**total CPU µs / request (bare)**", lambda f: f"**{f['cpu_us_per_request']:.0f}**")
    if all("instructions_per_request" in results[b][r] for b, r in columns):
        row(
            "**instructions / request (valgrind), millions**",
            lambda f: f"**{f['instructions_per_request'] / 1e6:.2f}**",
        )
    lines.append(
        "| framework floor: total CPU µs of GET /healthz | "
        + " | ".join(f"{results[b]['GET /healthz']['cpu_us_per_request']:.0f}" for b, _ in columns)
        + " |"
    )
    row("SQL statements / request", lambda f: _sql(f["sql_per_request"]))
    row("Redis round trips / request", lambda f: f"{f['redis_round_trips_per_request']:.2f}")
    lines.append(
        f"| Redis round trips / request, {IN_FLIGHT} POSTs in flight | "
        + " | ".join(
            f"{results[b][concurrent]['redis_round_trips_per_request']:.2f}"
            if r.startswith("POST") and concurrent in results[b]
            else ""
            for b, r in columns
        )
        + " |"
    )
    return "\n".join(lines)


def _sql(counts: dict[str, float]) -> str:
    total = sum(v for k, v in counts.items())
    parts = ", ".join(f"{k} {v:g}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))
    return f"{total:g} ({parts})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stages", description=__doc__)
    parser.add_argument("--backend", action="append", choices=["sqlite", "postgres"])
    parser.add_argument("--requests", type=int, default=REQUESTS)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="also count instructions per request under valgrind (minutes per backend)",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--posts", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--patches", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    backends = args.backend or ["sqlite", "postgres"]
    if args.child:  # one backend per process: settings and clients are made once
        with tempfile.TemporaryDirectory(prefix="stages-") as root:
            if args.posts is not None:
                run = _fixed(backends[0], args.posts, args.patches, Path(root))
            else:
                run = _profile(backends[0], args.requests, args.rounds, Path(root))
            result = asyncio.run(run)
        print(json.dumps(result))
        return 0
    results: dict[str, dict[str, Any]] = {}
    for backend in backends:
        out = subprocess.run(
            [
                *(sys.executable, "-m", "bench.stages", "--child", "--backend", backend),
                *("--requests", str(args.requests), "--rounds", str(args.rounds)),
            ],
            capture_output=True,
            text=True,
            env={k: v for k, v in os.environ.items() if not k.startswith("SCIMSYNC_")},
        )
        if out.returncode != 0:
            sys.stderr.write(out.stderr)
            return 1
        results[backend] = json.loads(out.stdout.strip().splitlines()[-1])
        if args.instructions:
            for request, counted in _instructions(backend).items():
                results[backend][request].update(counted)
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
