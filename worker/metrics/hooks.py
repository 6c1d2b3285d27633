"""What the worker reports to the Redis-backed pipeline counters (worker/metrics/pipeline.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache

from storage.outbox import PendingEvent
from worker.connections import redis_client
from worker.metrics.pipeline import PipelineCounters


@lru_cache(maxsize=1)
def _counters() -> PipelineCounters:
    return PipelineCounters(redis_client())


def applied(tenant_id: str, events: Sequence[PendingEvent], now: datetime) -> None:
    if events:
        lags = [(now - e.received_at).total_seconds() for e in events]
        _counters().events_applied(tenant_id, len(events), lags)


def retried(tenant_id: str, count: int) -> None:
    if count:
        _counters().events_retried(tenant_id, count)


def dead_lettered(tenant_id: str, count: int) -> None:
    if count:
        _counters().events_dead_lettered(tenant_id, count)
