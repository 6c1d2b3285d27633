"""What `GET /metrics` serves in this process: the API's own figures, the shared
Redis/SQL figures and the process' CPU and memory."""

from __future__ import annotations

from functools import lru_cache

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector

from worker.connections import get_engine, redis_client
from worker.metrics.collector import ScimSyncCollector
from worker.metrics.labels import TenantLabels
from worker.metrics.pipeline import build_registry, metrics_app_response
from worker.settings import get_settings


@lru_cache(maxsize=1)
def process_registry() -> CollectorRegistry:
    registry = build_registry(ScimSyncCollector(get_engine(), redis_client()))
    for standard in (ProcessCollector, PlatformCollector, GCCollector):
        standard(registry=registry)
    return registry


def render_metrics() -> tuple[bytes, str]:
    """Blocking (SQL and Redis reads): call it from a plain `def` route."""
    mode = get_settings().metrics_tenant_labels
    return metrics_app_response(TenantLabels(process_registry(), mode))
