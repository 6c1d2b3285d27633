"""The per-task ceiling: a Celery app whose tasks do nothing.

The apply and lag benchmarks compare scim-sync with "one Celery task per event"
on the same Redis. The app keeps the reliability settings a per-event design
would need (acks_late, reject on worker loss) and Celery's default prefetch,
which favours the anchor. `stamp` records its enqueue-to-run latency in a Redis
list: the least a task can do and still be measured.

Started as `celery -A bench.noop_celery worker -c N`; BENCH_BROKER_URL names the Redis.
"""

from __future__ import annotations

import os
import time
from functools import lru_cache

import redis
from celery import Celery

from worker.connections import broker_url

QUEUE = "bench-noop"
LATENCY_KEY = "bench:stamp-latency"
BROKER = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/15")

app = Celery("bench_noop", broker=broker_url(BROKER))
app.conf.update(
    task_default_queue=QUEUE,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    task_ignore_result=True,
    task_serializer="json",
    accept_content=["json"],
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
    broker_transport_options={"visibility_timeout": 3600},
)


@lru_cache(maxsize=1)
def _redis() -> redis.Redis:
    return redis.Redis.from_url(BROKER)


@app.task(name="bench.noop")
def noop(index: int) -> None:
    """Nothing: what is left is Celery's own cost per task."""


@app.task(name="bench.stamp")
def stamp(sent_at: float) -> None:
    _redis().rpush(LATENCY_KEY, time.time() - sent_at)
