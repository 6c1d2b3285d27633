"""Reads the shared figures at scrape time: pipeline counters from Redis, backlog and
reconcile figures from SQL. Registered in the API's registry: `build_registry(collector)`.

Collection is synchronous I/O: serve `/metrics` from a plain `def` route (run in a thread
pool), not an `async def` one. A source that cannot be read is reported through
`scimsync_metrics_source_up{source}` instead of failing the whole scrape.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import structlog
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from redis.exceptions import RedisError
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from reconciler.full_run import Outcome
from storage.db import unit_of_work
from worker.metrics.pipeline import COUNTER_KEYS, HEARTBEAT_KEY, LAG_KEY, cumulative_buckets
from worker.metrics.specs import (
    APPLY_LAG,
    CELERY_QUEUE_LENGTH,
    DEAD_LETTERS,
    OLDEST_UNAPPLIED_AGE,
    QUEUE_DEPTH,
    RECONCILE_DRIFT,
    RECONCILE_DURATION,
    RECONCILE_LAST_SUCCESS,
    RECONCILE_RUNS,
    SHARED_METRICS,
    SOURCE_UP,
    WORKER_HEARTBEAT,
    MetricSpec,
)
from worker.metrics.sql import read_backlog, read_reconcile

log = structlog.get_logger(__name__)

DEFAULT_CELERY_QUEUES = ("scimsync",)
# Always exposed (0 until seen) so that increase() also catches a tenant's first failure.
RECONCILE_OUTCOMES = tuple(o.value for o in Outcome if o is not Outcome.RUNNING)


def new_family(spec: MetricSpec) -> Any:
    labels = list(spec.labels)
    if spec.kind == "counter":
        return CounterMetricFamily(spec.name, spec.help, labels=labels)
    if spec.kind == "gauge":
        return GaugeMetricFamily(spec.name, spec.help, labels=labels)
    return HistogramMetricFamily(spec.name, spec.help, labels=labels)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class ScimSyncCollector:
    """A prometheus-client collector for the figures every process shares."""

    def __init__(
        self,
        engine: Engine,
        redis_client: Any,
        *,
        celery_queues: Sequence[str] = DEFAULT_CELERY_QUEUES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._engine = engine
        self._redis = redis_client
        self._queues = tuple(celery_queues)
        self._clock = clock

    def describe(self) -> Iterable[Metric]:
        # Lets the registry check names without touching SQL or Redis at registration.
        return [new_family(spec) for spec in SHARED_METRICS]

    def collect(self) -> Iterator[Metric]:
        up = new_family(SOURCE_UP)
        sources: tuple[tuple[str, Callable[[], list[Metric]]], ...] = (
            ("redis", self._redis_families),
            ("sql", self._sql_families),
        )
        for source, read in sources:
            try:
                families = read()
            except (RedisError, SQLAlchemyError) as error:
                log.warning("metrics_source_unreadable", source=source, error=str(error))
                up.add_metric([source], 0.0)
                continue
            up.add_metric([source], 1.0)
            yield from families
        yield up

    def _redis_families(self) -> list[Metric]:
        pipe = self._redis.pipeline(transaction=False)
        for key in COUNTER_KEYS.values():
            pipe.hgetall(key)
        pipe.hgetall(LAG_KEY)
        pipe.zrange(HEARTBEAT_KEY, 0, -1, withscores=True)
        for queue in self._queues:
            pipe.llen(queue)
        replies = pipe.execute()
        counters, lag = replies[: len(COUNTER_KEYS)], replies[len(COUNTER_KEYS)]
        heartbeats, lengths = replies[len(COUNTER_KEYS) + 1], replies[len(COUNTER_KEYS) + 2 :]

        families = []
        for spec, by_tenant in zip(_specs(COUNTER_KEYS), counters, strict=True):
            family = new_family(spec)
            for tenant, value in sorted(by_tenant.items()):
                family.add_metric([_text(tenant)], float(value))
            families.append(family)
        families.append(_lag_histogram({_text(k): float(v) for k, v in lag.items()}))
        beats = new_family(WORKER_HEARTBEAT)
        for worker, at in heartbeats:
            beats.add_metric([_text(worker)], float(at))
        queues = new_family(CELERY_QUEUE_LENGTH)
        for queue, length in zip(self._queues, lengths, strict=True):
            queues.add_metric([queue], float(length))
        return [*families, beats, queues]

    def _sql_families(self) -> list[Metric]:
        with unit_of_work(self._engine, write=False) as conn:
            backlog, runs = read_backlog(conn), read_reconcile(conn)
        now = self._clock()
        depth, age, dead = map(new_family, (QUEUE_DEPTH, OLDEST_UNAPPLIED_AGE, DEAD_LETTERS))
        for row in backlog:
            oldest = row.oldest_unapplied_at
            depth.add_metric([row.tenant_id], float(row.unapplied))
            age.add_metric([row.tenant_id], max(now - oldest.timestamp(), 0.0) if oldest else 0.0)
            dead.add_metric([row.tenant_id], float(row.dead_letters))

        duration, drift = new_family(RECONCILE_DURATION), new_family(RECONCILE_DRIFT)
        success, total = new_family(RECONCILE_LAST_SUCCESS), new_family(RECONCILE_RUNS)
        for tenant, seconds in sorted(runs.last_duration_seconds.items()):
            duration.add_metric([tenant], seconds)
        for tenant, by_kind in sorted(runs.last_drift.items()):
            for kind, count in sorted(by_kind.items()):
                drift.add_metric([tenant, kind], count)
        for tenant, at in sorted(runs.last_success_at.items()):
            success.add_metric([tenant], at.timestamp())
        tenants = {row.tenant_id for row in backlog}
        outcomes = {(t, o) for t in tenants for o in RECONCILE_OUTCOMES} | set(runs.runs_by_outcome)
        for tenant, outcome in sorted(outcomes):
            total.add_metric(
                [tenant, outcome], float(runs.runs_by_outcome.get((tenant, outcome), 0))
            )
        return [depth, age, dead, duration, drift, success, total]


def _specs(counter_keys: dict[str, str]) -> list[MetricSpec]:
    by_name = {spec.name: spec for spec in SHARED_METRICS}
    return [by_name[name] for name in counter_keys]


def _lag_histogram(stored: dict[str, float]) -> Metric:
    """Redis holds per-bucket counts; Prometheus wants them cumulative, `+Inf` == count."""
    family = new_family(APPLY_LAG)
    family.add_metric([], cumulative_buckets(stored), sum_value=stored.get("sum", 0.0))
    return family
