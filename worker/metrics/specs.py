"""The metric catalogue: every name, type, label set and help text scim-sync exposes.

These names are a contract: the Grafana dashboard and the alert rules under deploy/
query them, and tests/unit/deploy/test_deploy.py checks that every name they use is here.
Counters carry their `_total` suffix as exposed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["counter", "gauge", "histogram"]


@dataclass(frozen=True)
class MetricSpec:
    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()


REQUESTS_SPEC = MetricSpec(
    "scimsync_ingest_requests_total",
    "counter",
    "Ingest HTTP requests by tenant, route template, method and status.",
    ("tenant", "route", "method", "status"),
)
REQUEST_DURATION_SPEC = MetricSpec(
    "scimsync_ingest_request_duration_seconds",
    "histogram",
    "Ingest HTTP request duration by route template.",
    ("route",),
)
RATE_LIMITED_SPEC = MetricSpec(
    "scimsync_rate_limited_total", "counter", "Requests refused with 429, by tenant.", ("tenant",)
)
COMMIT_BATCH_SPEC = MetricSpec(
    "scimsync_ingest_commit_batch_writes",
    "histogram",
    "SCIM writes committed together in one transaction by an API process (group commit).",
)
COMMIT_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)
IN_PROCESS_METRICS = (REQUESTS_SPEC, REQUEST_DURATION_SPEC, RATE_LIMITED_SPEC, COMMIT_BATCH_SPEC)

# Redis-backed pipeline counters: spec -> the Redis hash holding {tenant: count}.
EVENTS_RECEIVED = MetricSpec(
    "scimsync_events_received_total", "counter", "Change events accepted by ingest.", ("tenant",)
)
EVENTS_APPLIED = MetricSpec(
    "scimsync_events_applied_total",
    "counter",
    "Change events applied to the workspace.",
    ("tenant",),
)
EVENTS_RETRIED = MetricSpec(
    "scimsync_events_retried_total",
    "counter",
    "Change events scheduled for another attempt.",
    ("tenant",),
)
EVENTS_DEAD_LETTERED = MetricSpec(
    "scimsync_events_dead_lettered_total",
    "counter",
    "Change events moved to dead letters.",
    ("tenant",),
)
APPLY_LAG = MetricSpec(
    "scimsync_apply_lag_seconds", "histogram", "Time from ingest to applied, per event."
)
WORKER_HEARTBEAT = MetricSpec(
    "scimsync_worker_last_heartbeat_timestamp_seconds",
    "gauge",
    "Unix time of each worker's last heartbeat.",
    ("worker",),
)
CELERY_QUEUE_LENGTH = MetricSpec(
    "scimsync_celery_queue_length",
    "gauge",
    "Messages waiting in the Celery queue (LLEN).",
    ("queue",),
)
# SQL-backed figures, read at scrape time.
QUEUE_DEPTH = MetricSpec(
    "scimsync_queue_depth", "gauge", "Change events not yet applied.", ("tenant",)
)
OLDEST_UNAPPLIED_AGE = MetricSpec(
    "scimsync_oldest_unapplied_event_age_seconds",
    "gauge",
    "Age of the oldest change event not yet applied (0 when none).",
    ("tenant",),
)
DEAD_LETTERS = MetricSpec(
    "scimsync_dead_letters", "gauge", "Dead letters waiting for replay or purge.", ("tenant",)
)
RECONCILE_DURATION = MetricSpec(
    "scimsync_reconcile_duration_seconds",
    "gauge",
    "Duration of the last finished reconcile.",
    ("tenant",),
)
RECONCILE_DRIFT = MetricSpec(
    "scimsync_reconcile_drift",
    "gauge",
    "Drift found by the last finished reconcile, per kind.",
    ("tenant", "kind"),
)
RECONCILE_LAST_SUCCESS = MetricSpec(
    "scimsync_reconcile_last_success_timestamp_seconds",
    "gauge",
    "Unix time the last successful reconcile finished.",
    ("tenant",),
)
RECONCILE_RUNS = MetricSpec(
    "scimsync_reconcile_runs_total",
    "counter",
    "Finished reconcile runs by outcome.",
    ("tenant", "outcome"),
)
SOURCE_UP = MetricSpec(
    "scimsync_metrics_source_up",
    "gauge",
    "1 when the last scrape could read this source (sql, redis), else 0.",
    ("source",),
)

SHARED_METRICS = (
    EVENTS_RECEIVED,
    EVENTS_APPLIED,
    EVENTS_RETRIED,
    EVENTS_DEAD_LETTERED,
    APPLY_LAG,
    WORKER_HEARTBEAT,
    CELERY_QUEUE_LENGTH,
    QUEUE_DEPTH,
    OLDEST_UNAPPLIED_AGE,
    DEAD_LETTERS,
    RECONCILE_DURATION,
    RECONCILE_DRIFT,
    RECONCILE_LAST_SUCCESS,
    RECONCILE_RUNS,
    SOURCE_UP,
)
ALL_METRICS = IN_PROCESS_METRICS + SHARED_METRICS

# Upper bounds of the ingest -> applied lag histogram, in seconds.
LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
