"""What an operator sees at /metrics: Redis-backed pipeline counters written by any
process, SQL-backed backlog and reconcile gauges, and a scrape that survives outages."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from hypothesis import example, given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import Engine

from storage.db import make_engine
from storage.event_state import EventState
from storage.schema import change_events, dead_letters, reconcile_runs, tenants
from worker.metrics.collector import ScimSyncCollector
from worker.metrics.pipeline import (
    HEARTBEAT_RETENTION_SECONDS,
    REQUEST_DURATION,
    REQUESTS,
    PipelineCounters,
    build_registry,
    cumulative_buckets,
    lag_bucket_counts,
    metrics_app_response,
    record_heartbeat,
)
from worker.metrics.specs import ALL_METRICS, LAG_BUCKETS

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(engine: Engine, redis_client: Any) -> tuple[Samples, dict[str, str]]:
    """Serve /metrics as the API does and parse it back: (samples, family types)."""
    collector = ScimSyncCollector(engine, redis_client, clock=NOW.timestamp)
    body, content_type = metrics_app_response(build_registry(collector))
    assert content_type.startswith("text/plain")
    samples: Samples = {}
    types: dict[str, str] = {}
    for family in text_string_to_metric_families(body.decode()):
        types[family.name] = family.type
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples, types


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def unreachable_redis() -> redis.Redis:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # No client-side retries: the pause in PipelineCounters is what is under test.
    return redis.Redis(
        host="127.0.0.1", port=port, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)
    )


class CountingClient:
    """A real client that counts pipelines and has no other method: every write must be
    one pipelined round trip."""

    def __init__(self, client: redis.Redis) -> None:
        self._client, self.pipelines = client, 0

    def pipeline(self, **kwargs: Any) -> Any:
        self.pipelines += 1
        return self._client.pipeline(**kwargs)


def add_tenants(engine: Engine, *ids: str) -> None:
    with engine.begin() as conn:
        conn.execute(tenants.insert(), [{"id": i, "name": i, "created_at": NOW} for i in ids])


# --- Redis-backed pipeline counters ---------------------------------------------


def test_counters_from_any_process_add_up_per_tenant(engine: Engine, redis_client: Any) -> None:
    ingest, worker_a, worker_b = (PipelineCounters(redis_client) for _ in range(3))
    ingest.events_received("acme", 5)
    ingest.events_received("globex", 2)
    worker_a.events_applied("acme", 3, [0.2, 0.2, 0.2])
    worker_b.events_applied("acme", 1, [0.2])
    worker_b.events_retried("acme", 2)
    worker_a.events_dead_lettered("globex", 1)

    samples, _ = scrape(engine, redis_client)

    assert value(samples, "scimsync_events_received_total", tenant="acme") == 5
    assert value(samples, "scimsync_events_received_total", tenant="globex") == 2
    assert value(samples, "scimsync_events_applied_total", tenant="acme") == 4
    assert value(samples, "scimsync_events_retried_total", tenant="acme") == 2
    assert value(samples, "scimsync_events_dead_lettered_total", tenant="globex") == 1
    assert value(samples, "scimsync_events_applied_total", tenant="globex") is None


def test_lag_histogram_is_cumulative_and_consistent(engine: Engine, redis_client: Any) -> None:
    counters = PipelineCounters(redis_client)
    counters.events_applied("acme", 4, [0.01, 0.05, 0.3, 4.0])
    counters.events_applied("globex", 3, [0.3, 1000.0, -2.0])  # -2: clock skew counts as 0

    samples, types = scrape(engine, redis_client)

    assert types["scimsync_apply_lag_seconds"] == "histogram"
    buckets = {
        le: value(samples, "scimsync_apply_lag_seconds_bucket", le=le)
        for le in (
            "0.05",
            "0.1",
            "0.25",
            "0.5",
            "1.0",
            "2.5",
            "5.0",
            "10.0",
            "30.0",
            "60.0",
            "300.0",
            "+Inf",
        )
    }
    assert buckets == {
        "0.05": 3,
        "0.1": 3,
        "0.25": 3,
        "0.5": 5,
        "1.0": 5,
        "2.5": 5,
        "5.0": 6,
        "10.0": 6,
        "30.0": 6,
        "60.0": 6,
        "300.0": 6,
        "+Inf": 7,
    }
    assert value(samples, "scimsync_apply_lag_seconds_count") == 7
    assert value(samples, "scimsync_apply_lag_seconds_sum") == pytest.approx(1004.66)


lags = st.lists(st.floats(min_value=-5, max_value=1e5, allow_nan=False), max_size=60)


@given(lags)
@example([0.05, 0.1, 300.0, 300.0001])  # upper bounds are inclusive, as in Prometheus
def test_buckets_count_every_lag_at_or_below_each_bound(values: list[float]) -> None:
    buckets = cumulative_buckets(lag_bucket_counts(values))

    expected = [(le, sum(max(v, 0) <= le for v in values)) for le in LAG_BUCKETS]
    assert [(float(le), count) for le, count in buckets[:-1]] == expected
    assert buckets[-1] == ("+Inf", len(values))


def test_each_batch_is_one_round_trip(redis_client: Any) -> None:
    client = CountingClient(redis_client)

    PipelineCounters(client).events_applied("acme", 500, [0.1] * 500)

    assert client.pipelines == 1
    assert int(redis_client.hget("scimsync:metrics:scimsync_events_applied", "acme")) == 500


def test_counters_never_break_the_caller_when_redis_is_down() -> None:
    counters = PipelineCounters(unreachable_redis())

    counters.events_received("acme", 1)
    counters.events_applied("acme", 2, [0.1, 0.2])
    counters.events_retried("acme", 1)
    counters.events_dead_lettered("acme", 1)
    record_heartbeat(unreachable_redis(), "celery@host-1")


def test_after_a_failure_writes_pause_instead_of_stalling_every_batch() -> None:
    down, now = CountingClient(unreachable_redis()), [0.0]
    counters = PipelineCounters(down, pause_seconds=10, clock=lambda: now[0])

    counters.events_applied("acme", 1, [0.1])
    counters.events_applied("acme", 1, [0.1])
    now[0] = 9.9
    counters.events_retried("acme", 1)
    assert down.pipelines == 1  # only the first batch waited on the dead server

    now[0] = 10.1
    counters.events_retried("acme", 1)
    assert down.pipelines == 2  # and Redis is tried again once the pause is over


# --- heartbeats and the Celery queue ------------------------------------------------


def test_heartbeats_expose_each_live_worker_and_drop_long_gone_ones(
    engine: Engine, redis_client: Any
) -> None:
    start = NOW.timestamp() - HEARTBEAT_RETENTION_SECONDS - 60
    record_heartbeat(redis_client, "celery@replaced-pod", now=start)
    record_heartbeat(redis_client, "celery@host-1", now=NOW.timestamp() - 20)
    record_heartbeat(redis_client, "celery@host-2", now=NOW.timestamp())

    samples, _ = scrape(engine, redis_client)

    name = "scimsync_worker_last_heartbeat_timestamp_seconds"
    assert value(samples, name, worker="celery@host-1") == NOW.timestamp() - 20
    assert value(samples, name, worker="celery@host-2") == NOW.timestamp()
    assert value(samples, name, worker="celery@replaced-pod") is None


def test_celery_queue_length_is_the_broker_list_length(engine: Engine, redis_client: Any) -> None:
    redis_client.rpush("scimsync", "m1", "m2", "m3")

    samples, _ = scrape(engine, redis_client)

    assert value(samples, "scimsync_celery_queue_length", queue="scimsync") == 3


# --- SQL-backed gauges --------------------------------------------------------------


def test_backlog_gauges_follow_the_event_log(engine: Engine, redis_client: Any) -> None:
    add_tenants(engine, "acme", "globex")
    event = {"resource_type": "User", "version": 1, "operation": "create", "payload": {}}
    with engine.begin() as conn:
        conn.execute(
            change_events.insert(),
            [
                {
                    **event,
                    "tenant_id": "acme",
                    "resource_id": f"u{i}",
                    "state": state,
                    "received_at": NOW - timedelta(seconds=age),
                }
                for i, (state, age) in enumerate(
                    [
                        (EventState.APPLIED, 900),
                        (EventState.PENDING, 600),
                        (EventState.PENDING, 30),
                        (EventState.DEAD, 700),
                    ]
                )
            ],
        )
        conn.execute(
            dead_letters.insert(),
            [
                {
                    "tenant_id": "acme",
                    "event_id": i,
                    "resource_type": "User",
                    "resource_id": "u3",
                    "reason": "refused",
                    "error_code": "rule",
                    "attempts": 1,
                    "first_failed_at": NOW,
                    "last_failed_at": NOW,
                }
                for i in (3, 4)
            ],
        )

    samples, _ = scrape(engine, redis_client)

    assert value(samples, "scimsync_queue_depth", tenant="acme") == 2
    assert value(samples, "scimsync_oldest_unapplied_event_age_seconds", tenant="acme") == 600
    assert value(samples, "scimsync_dead_letters", tenant="acme") == 2
    # A quiet tenant shows zeros, not a gap.
    assert value(samples, "scimsync_queue_depth", tenant="globex") == 0
    assert value(samples, "scimsync_oldest_unapplied_event_age_seconds", tenant="globex") == 0
    assert value(samples, "scimsync_dead_letters", tenant="globex") == 0


def reconcile_run(outcome: str, minutes_ago: int, **extra: Any) -> dict[str, Any]:
    started = NOW - timedelta(minutes=minutes_ago)
    return {
        "tenant_id": "acme",
        "source": "mirror",
        "dry_run": outcome == "dry_run",
        "outcome": outcome,
        "counts": {},
        "actions": [],
        "started_at": started,
        "finished_at": None if outcome == "running" else started + timedelta(seconds=30),
        "duration_seconds": None,
        **extra,
    }


def test_reconcile_gauges_describe_the_last_finished_run(engine: Engine, redis_client: Any) -> None:
    add_tenants(engine, "acme", "globex")
    drift = {"create_member": 2, "deactivate_member": 1, "source": "mirror", "halted": False}
    with engine.begin() as conn:
        conn.execute(
            reconcile_runs.insert(),
            [
                reconcile_run("failed", 300),
                reconcile_run("halted", 240, counts={"delete_member": 40}),
                reconcile_run("applied", 180, counts=drift, duration_seconds=12.5),
                reconcile_run("running", 1),
            ],
        )

    samples, _ = scrape(engine, redis_client)

    assert value(samples, "scimsync_reconcile_duration_seconds", tenant="acme") == 12.5
    drift_by_kind = {
        dict(labels)["kind"]: v
        for (name, labels), v in samples.items()
        if name == "scimsync_reconcile_drift"
    }
    assert drift_by_kind == {"create_member": 2, "deactivate_member": 1}
    finished = (NOW - timedelta(minutes=180) + timedelta(seconds=30)).timestamp()
    assert (
        value(samples, "scimsync_reconcile_last_success_timestamp_seconds", tenant="acme")
        == finished
    )
    runs = "scimsync_reconcile_runs_total"
    assert value(samples, runs, tenant="acme", outcome="applied") == 1
    assert value(samples, runs, tenant="acme", outcome="halted") == 1
    assert value(samples, runs, tenant="acme", outcome="failed") == 1
    assert value(samples, runs, tenant="acme", outcome="running") is None
    assert value(samples, runs, tenant="globex", outcome="failed") == 0
    assert value(samples, "scimsync_reconcile_duration_seconds", tenant="globex") is None


def test_last_success_survives_later_failures(engine: Engine, redis_client: Any) -> None:
    add_tenants(engine, "acme")
    with engine.begin() as conn:
        conn.execute(
            reconcile_runs.insert(),
            [
                reconcile_run("dry_run", 120, counts={"remove_membership": 3}),
                reconcile_run("failed", 60),
            ],
        )

    samples, _ = scrape(engine, redis_client)

    success = (NOW - timedelta(minutes=120, seconds=-30)).timestamp()
    assert (
        value(samples, "scimsync_reconcile_last_success_timestamp_seconds", tenant="acme")
        == success
    )
    # The failed run's duration is derived from its timestamps: it stored none.
    assert value(samples, "scimsync_reconcile_duration_seconds", tenant="acme") == 30


# --- the scrape as a whole -----------------------------------------------------------


def test_scrape_keeps_serving_sql_figures_when_redis_is_down(engine: Engine) -> None:
    add_tenants(engine, "acme")

    samples, _ = scrape(engine, unreachable_redis())

    assert value(samples, "scimsync_metrics_source_up", source="redis") == 0
    assert value(samples, "scimsync_metrics_source_up", source="sql") == 1
    assert value(samples, "scimsync_queue_depth", tenant="acme") == 0


def test_scrape_keeps_serving_redis_figures_when_sql_is_down(
    redis_client: Any, tmp_path: Any
) -> None:
    PipelineCounters(redis_client).events_received("acme", 1)
    broken = make_engine(f"sqlite:///{tmp_path}/missing/dir/scimsync.db")

    samples, _ = scrape(broken, redis_client)

    assert value(samples, "scimsync_metrics_source_up", source="sql") == 0
    assert value(samples, "scimsync_events_received_total", tenant="acme") == 1


def test_every_exposed_family_is_in_the_catalogue(engine: Engine, redis_client: Any) -> None:
    add_tenants(engine, "acme")
    route = "/scim/v2/{tenant_id}/Users"  # one request, as the request middleware records it
    REQUESTS.labels(tenant="acme", route=route, method="POST", status="201").inc()
    REQUEST_DURATION.labels(route=route).observe(0.01)

    _, types = scrape(engine, redis_client)

    catalogue = {spec.name.removesuffix("_total"): spec.kind for spec in ALL_METRICS}
    # prometheus-client adds a `<counter>_created` gauge beside each in-process counter.
    created = {f"{name}_created" for name, kind in catalogue.items() if kind != "gauge"}
    assert {name: kind for name, kind in types.items() if name not in created} == catalogue
