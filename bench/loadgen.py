"""The one load generator both sides get: asyncio (bench/http1.py), closed loop or paced.

A *job* is an async function given a `Session`; most jobs send one request, an
Okta-style push sends a lookup then a POST. `run_closed` keeps `concurrency`
jobs in flight until all are done (throughput); `run_paced` starts jobs at a
fixed rate whatever the answers (a steady IdP), so a slow server shows as lag
rather than as a slower client.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bench.http1 import Client, HttpError, Response

TIMEOUT_SECONDS = 60.0
MAX_IN_FLIGHT = 512  # paced runs: beyond this the server is drowning; stop piling on


def percentile(values: Iterable[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1) of a non-empty sample."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of an empty sample")
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


@dataclass
class LoadResult:
    elapsed: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)  # seconds, every answered request
    errors: Counter[str] = field(default_factory=Counter)  # requests that got no answer, by cause
    jobs: int = 0
    offered_seconds: float = 0.0  # paced runs: from the first start to the last

    @property
    def offered_rate(self) -> float:
        """Jobs started per second (paced runs): below the asked rate, the server fell behind
        and the in-flight cap held the client back."""
        return self.jobs / self.offered_seconds if self.offered_seconds else 0.0

    @property
    def transport_errors(self) -> int:
        return sum(self.errors.values())

    @property
    def requests(self) -> int:
        return sum(self.statuses.values()) + self.transport_errors

    def describe_failures(self, *ok: int) -> str:
        """'' when every request got one of `ok`, else what happened instead."""
        bad = self.failures(*ok)
        if not bad:
            return ""
        answers = {s: n for s, n in self.statuses.items() if s not in ok}
        return (
            f"{bad} of {self.requests} requests failed (answers {answers}, no answer "
            f"{dict(self.errors)})"
        )

    def count(self, *statuses: int) -> int:
        return sum(self.statuses[s] for s in statuses)

    def rate(self, *statuses: int) -> float:
        """Answers with one of `statuses` per second of the whole run."""
        return self.count(*statuses) / self.elapsed if self.elapsed else 0.0

    def failures(self, *ok: int) -> int:
        return self.requests - self.count(*ok)


class Session:
    """Sends requests and records each one's status and latency."""

    def __init__(self, client: Client, result: LoadResult):
        self.client = client
        self.result = result

    async def send(
        self, method: str, url: str, *, json: Any = None, params: Mapping[str, str] | None = None
    ) -> Response | None:
        started = time.perf_counter()
        try:
            response = await self.client.request(method, url, json=json, params=params)
        except HttpError as exc:
            self.result.errors[exc.kind] += 1
            return None
        self.result.latencies.append(time.perf_counter() - started)
        self.result.statuses[response.status_code] += 1
        return response


Job = Callable[[Session], Awaitable[Any]]


def request(
    method: str, url: str, *, json: Any = None, params: Mapping[str, str] | None = None
) -> Job:
    """A job of one request."""

    async def job(session: Session) -> Any:
        return await session.send(method, url, json=json, params=params)

    return job


def _client(headers: Mapping[str, str], connections: int) -> Client:
    return Client(headers, connections, timeout=TIMEOUT_SECONDS)


async def _closed(jobs: Iterable[Job], concurrency: int, headers: Mapping[str, str]) -> LoadResult:
    result = LoadResult()
    pending = iter(jobs)
    async with _client(headers, concurrency) as client:
        session = Session(client, result)

        async def lane() -> None:
            for job in pending:  # lanes share one iterator: each job runs once
                await job(session)
                result.jobs += 1

        started = time.perf_counter()
        await asyncio.gather(*(lane() for _ in range(concurrency)))
        result.elapsed = time.perf_counter() - started
    return result


async def _paced(
    jobs: Iterable[Job], rate: float, headers: Mapping[str, str], duration: float | None
) -> LoadResult:
    result = LoadResult()
    in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)
    async with _client(headers, MAX_IN_FLIGHT) as client:
        session = Session(client, result)

        async def run(job: Job) -> None:
            try:
                await job(session)
                result.jobs += 1
            finally:
                in_flight.release()

        tasks = []
        started = time.perf_counter()
        for index, job in enumerate(jobs):
            delay = started + index / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await in_flight.acquire()
            if duration is not None and time.perf_counter() - started >= duration:
                in_flight.release()
                break  # the load lasts `duration`, however many jobs were started by then
            tasks.append(asyncio.create_task(run(job)))
        # n starts span n intervals of 1/rate when the client keeps up
        result.offered_seconds = min(
            time.perf_counter() - started + 1 / rate, duration or float("inf")
        )
        await asyncio.gather(*tasks)
        result.elapsed = time.perf_counter() - started
    return result


def run_closed(
    jobs: Iterable[Job], *, concurrency: int, headers: Mapping[str, str] | None = None
) -> LoadResult:
    return asyncio.run(_closed(jobs, concurrency, headers or {}))


def run_paced(
    jobs: Iterable[Job],
    *,
    rate: float,
    headers: Mapping[str, str] | None = None,
    duration: float | None = None,
) -> LoadResult:
    """Start a job every 1/rate s (at most MAX_IN_FLIGHT unanswered), for `duration` s when
    given, else until the jobs run out; then wait for the answers."""
    return asyncio.run(_paced(jobs, rate, headers or {}, duration))
