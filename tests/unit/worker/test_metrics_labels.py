"""The tenant label of /metrics: kept, hashed or dropped (worker/metrics/labels.py)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

from worker.metrics.labels import TenantLabels, tenant_hash


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    requests = Counter("reqs", "r", ("tenant", "status"), registry=registry)
    depth = Gauge("depth", "d", ("tenant",), registry=registry)
    lag = Histogram("lag", "l", ("tenant",), buckets=(1, 10), registry=registry)
    plain = Gauge("workers", "w", registry=registry)
    requests.labels("t-a", "200").inc(3)
    requests.labels("t-b", "200").inc(4)
    requests.labels("t-b", "500").inc(1)
    depth.labels("t-a").set(7)
    depth.labels("t-b").set(2)
    lag.labels("t-a").observe(0.5)
    lag.labels("t-b").observe(5)
    plain.set(2)
    return registry


def test_hashed_labels_name_no_tenant() -> None:
    text = generate_latest(TenantLabels(_registry(), "hashed")).decode()
    assert "t-a" not in text and "t-b" not in text
    assert f'reqs_total{{status="200",tenant="{tenant_hash("t-a")}"}} 3.0' in text
    assert "workers 2.0" in text


def test_dropped_labels_sum_counters_and_keep_the_largest_gauge() -> None:
    text = generate_latest(TenantLabels(_registry(), "none")).decode()
    assert "tenant" not in text
    assert 'reqs_total{status="200"} 7.0' in text
    assert 'reqs_total{status="500"} 1.0' in text
    assert "depth 7.0" in text
    assert 'lag_bucket{le="1.0"} 1.0' in text and 'lag_bucket{le="10.0"} 2.0' in text
    assert "lag_count 2.0" in text


def test_ids_are_kept_by_default() -> None:
    registry = _registry()
    assert generate_latest(TenantLabels(registry, "id")) == generate_latest(registry)
