"""Writing metrics: the API's in-process figures, and pipeline figures kept in Redis.

Three kinds of process produce figures, and one (the API) serves `/metrics`:
- the API's own request figures are ordinary in-process prometheus-client metrics;
- pipeline counters move in Celery workers on any number of hosts, so they are kept in
  Redis (one pipelined round trip per batch) and read back at scrape time;
- backlog, dead letters and reconcile figures are read from SQL at scrape time.
Names live in `worker.metrics.specs`; `worker.metrics.collector` does the reading.

Every API replica exposes the same Redis- and SQL-backed series: aggregate them with
`max`, never `sum`, in queries.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest
from redis.exceptions import RedisError

from worker.metrics.labels import TenantLabels
from worker.metrics.specs import ALL_METRICS as ALL_METRICS  # re-exported: the catalogue
from worker.metrics.specs import (
    APPLY_LAG,
    COMMIT_BATCH_BUCKETS,
    COMMIT_BATCH_SPEC,
    EVENTS_APPLIED,
    EVENTS_DEAD_LETTERED,
    EVENTS_RECEIVED,
    EVENTS_RETRIED,
    LAG_BUCKETS,
    RATE_LIMITED_SPEC,
    REQUEST_DURATION_SPEC,
    REQUESTS_SPEC,
    WORKER_HEARTBEAT,
    MetricSpec,
)

log = structlog.get_logger(__name__)

# --- in-process API metrics (one set per process; use `build_registry` to serve them) ---

REQUESTS = Counter(REQUESTS_SPEC.name, REQUESTS_SPEC.help, REQUESTS_SPEC.labels, registry=None)
REQUEST_DURATION = Histogram(
    REQUEST_DURATION_SPEC.name,
    REQUEST_DURATION_SPEC.help,
    REQUEST_DURATION_SPEC.labels,
    registry=None,
)
RATE_LIMITED = Counter(
    RATE_LIMITED_SPEC.name, RATE_LIMITED_SPEC.help, RATE_LIMITED_SPEC.labels, registry=None
)
COMMIT_BATCH = Histogram(
    COMMIT_BATCH_SPEC.name, COMMIT_BATCH_SPEC.help, buckets=COMMIT_BATCH_BUCKETS, registry=None
)


# --- Redis-backed pipeline figures -------------------------------------------

KEY_PREFIX = "scimsync:metrics:"
COUNTER_KEYS = {
    spec.name: f"{KEY_PREFIX}{spec.name.removesuffix('_total')}"
    for spec in (EVENTS_RECEIVED, EVENTS_APPLIED, EVENTS_RETRIED, EVENTS_DEAD_LETTERED)
}
LAG_KEY = f"{KEY_PREFIX}{APPLY_LAG.name}"
HEARTBEAT_KEY = f"{KEY_PREFIX}worker_heartbeat"
INF = "+Inf"
HEARTBEAT_INTERVAL_SECONDS = 30
# Workers that stopped beating this long ago (replaced pods) are dropped from the set.
HEARTBEAT_RETENTION_SECONDS = 3600


def bucket_label(upper: float) -> str:
    return INF if upper == float("inf") else repr(upper)


def lag_bucket_counts(lags_seconds: Iterable[float]) -> dict[str, int]:
    """Per-bucket (not cumulative) counts, keyed by the bucket's `le` label.

    Buckets are upper-inclusive as in Prometheus; a negative lag (clock skew between
    hosts) counts as zero."""
    counts: dict[str, int] = {}
    for lag in lags_seconds:
        index = bisect.bisect_left(LAG_BUCKETS, max(lag, 0.0))
        label = INF if index == len(LAG_BUCKETS) else bucket_label(LAG_BUCKETS[index])
        counts[label] = counts.get(label, 0) + 1
    return counts


def cumulative_buckets(per_bucket: Mapping[str, float]) -> list[tuple[str, float]]:
    """Prometheus' cumulative `le` buckets from per-bucket counts, `+Inf` last."""
    running, result = 0.0, []
    for label in [*map(bucket_label, LAG_BUCKETS), INF]:
        running += per_bucket.get(label, 0.0)
        result.append((label, running))
    return result


def received_counter_key() -> str:
    """The Redis hash of events accepted by ingest, by tenant (bumped by worker/publish.py)."""
    return COUNTER_KEYS[EVENTS_RECEIVED.name]


class PipelineCounters:
    """Counters moved by ingest and workers, kept in Redis so that every host adds up.

    Each call is one pipelined round trip. Metrics never break or stall the caller: when
    Redis fails, the figures are dropped and writes pause for `pause_seconds`, so a batch
    does not wait out the client's connection retries on every call."""

    def __init__(
        self,
        redis_client: Any,
        *,
        pause_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = redis_client
        self._pause_seconds = pause_seconds
        self._clock = clock
        self._paused_until = 0.0

    def events_received(self, tenant: str, n: int = 1) -> None:
        self._add(EVENTS_RECEIVED, tenant, n)

    def events_retried(self, tenant: str, n: int = 1) -> None:
        self._add(EVENTS_RETRIED, tenant, n)

    def events_dead_lettered(self, tenant: str, n: int = 1) -> None:
        self._add(EVENTS_DEAD_LETTERED, tenant, n)

    def events_applied(self, tenant: str, n: int, lags_seconds: Sequence[float] = ()) -> None:
        def commands(pipe: Any) -> None:
            if n > 0:
                pipe.hincrby(COUNTER_KEYS[EVENTS_APPLIED.name], tenant, n)
            for label, count in lag_bucket_counts(lags_seconds).items():
                pipe.hincrby(LAG_KEY, label, count)
            if lags_seconds:  # the count is the sum of the buckets: no field of its own
                pipe.hincrbyfloat(LAG_KEY, "sum", sum(max(lag, 0.0) for lag in lags_seconds))

        if n > 0 or lags_seconds:
            self._write(EVENTS_APPLIED.name, commands)

    def _add(self, spec: MetricSpec, tenant: str, n: int) -> None:
        if n > 0:
            self._write(spec.name, lambda pipe: pipe.hincrby(COUNTER_KEYS[spec.name], tenant, n))

    def _write(self, what: str, commands: Callable[[Any], object]) -> None:
        if self._clock() < self._paused_until:
            return
        if not write_tolerantly(self._redis, what, commands):
            self._paused_until = self._clock() + self._pause_seconds


def write_tolerantly(redis_client: Any, what: str, commands: Callable[[Any], object]) -> bool:
    """Run `commands` on a non-transactional pipeline in one round trip; False (and a
    warning) instead of an exception when Redis fails."""
    pipe = redis_client.pipeline(transaction=False)
    try:
        commands(pipe)
        pipe.execute()
        return True
    except RedisError as error:
        log.warning("metrics_write_failed", metric=what, error=str(error))
        return False
    finally:
        pipe.reset()


def record_heartbeat(redis_client: Any, worker_name: str, now: float | None = None) -> None:
    """A worker says it is alive; call every HEARTBEAT_INTERVAL_SECONDS.

    A sorted set scored by time, pruned in the same round trip, so workers that are gone
    for good (replaced pods) disappear instead of piling up."""
    at = time.time() if now is None else now

    def commands(pipe: Any) -> None:
        pipe.zadd(HEARTBEAT_KEY, {worker_name: at})
        pipe.zremrangebyscore(HEARTBEAT_KEY, "-inf", at - HEARTBEAT_RETENTION_SECONDS)

    write_tolerantly(redis_client, WORKER_HEARTBEAT.name, commands)


# --- serving -------------------------------------------------------------------


def build_registry(*collectors: Any) -> CollectorRegistry:
    """A registry with the in-process API metrics plus `collectors` (usually one
    `ScimSyncCollector`). One per app, so building several apps never collides."""
    registry = CollectorRegistry()
    for collector in (REQUESTS, REQUEST_DURATION, RATE_LIMITED, COMMIT_BATCH, *collectors):
        registry.register(collector)
    return registry


def metrics_app_response(registry: CollectorRegistry | TenantLabels) -> tuple[bytes, str]:
    """The body and content type for `GET /metrics`."""
    return generate_latest(registry), CONTENT_TYPE_LATEST
