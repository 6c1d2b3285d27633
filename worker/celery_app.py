"""The Celery application and its reliability settings (late acks, redelivery, backoff)."""

from __future__ import annotations

import time
from typing import Any

import structlog
from celery import Celery
from celery.signals import (
    beat_init,
    heartbeat_sent,
    setup_logging,
    task_postrun,
    task_prerun,
    worker_init,
)
from kombu import Queue

from worker.connections import broker_url, redis_client, redis_url
from worker.logging import configure_logging
from worker.metrics.pipeline import HEARTBEAT_INTERVAL_SECONDS, record_heartbeat
from worker.safety import check_startup
from worker.settings import get_settings

QUEUE = "scimsync"
# Longer than any retry countdown (capped at 600 s), so Redis never hands a task
# that is only waiting to be retried to a second worker.
VISIBILITY_TIMEOUT = 3600
RECEIPT_PURGE_SECONDS = 600  # a receipt outlives the replay window by 10 minutes at most


def _from_settings() -> dict[str, Any]:
    """What depends on the settings: the broker and the beat schedule."""
    settings = get_settings()
    return {
        "broker_url": broker_url(redis_url(settings)),
        "beat_schedule": {
            "relay-unpublished-events": {
                "task": "scimsync.relay",
                "schedule": settings.relay_interval_seconds,
                "options": {"expires": settings.relay_interval_seconds * 5},
            },
            "schedule-reconciles": {
                "task": "scimsync.schedule_reconciles",
                "schedule": settings.reconcile_check_seconds,
                "options": {"expires": settings.reconcile_check_seconds * 2},
            },
            "purge-webhook-receipts": {
                "task": "scimsync.purge_webhook_receipts",
                "schedule": RECEIPT_PURGE_SECONDS,
                "options": {"expires": RECEIPT_PURGE_SECONDS},
            },
            "sample-pipeline": {
                "task": "scimsync.sample_pipeline",
                "schedule": settings.pipeline_sample_seconds,
                "options": {"expires": settings.pipeline_sample_seconds},
            },
            "purge-trace": {
                "task": "scimsync.purge_trace",
                "schedule": settings.trace_purge_interval_seconds,
                "options": {"expires": settings.trace_purge_interval_seconds},
            },
        },
    }


def make_app() -> Celery:
    app = Celery("scimsync", include=["worker.tasks"])
    # Read when the app first needs its configuration (its first message, a worker's
    # start), not when this module is imported: the settings in effect then count.
    app.add_defaults(_from_settings)
    app.conf.update(
        task_default_queue=QUEUE,
        task_queues=[Queue(QUEUE)],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        # Each task drains a batch of hundreds of events: one in hand is enough.
        worker_prefetch_multiplier=1,
        broker_transport_options={
            "visibility_timeout": VISIBILITY_TIMEOUT,
            "socket_connect_timeout": 2,
            "socket_timeout": 5,
        },
        broker_connection_timeout=2,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        # On SIGTERM, finish or hand back what is in flight before exiting.
        worker_soft_shutdown_timeout=10.0,
        worker_enable_soft_shutdown_on_idle=True,
        worker_send_task_events=True,
        task_send_sent_event=True,
        worker_hijack_root_logger=False,
        timezone="UTC",
    )
    return app


app = make_app()


@setup_logging.connect
def _configure_logging(**_: object) -> None:
    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)


@worker_init.connect
@beat_init.connect
def _refuse_unsafe_settings(**_: object) -> None:
    """`celery -A worker worker|beat` started directly checks what `scimsync` checks."""
    check_startup(get_settings())


@task_prerun.connect
def _bind_task_context(task_id: str | None = None, task: object = None, **_: object) -> None:
    structlog.contextvars.bind_contextvars(task_id=task_id, task_name=getattr(task, "name", None))


@task_postrun.connect
def _clear_task_context(**_: object) -> None:
    structlog.contextvars.clear_contextvars()


_last_heartbeat = 0.0


@heartbeat_sent.connect
def _record_heartbeat(sender: object = None, **_: object) -> None:
    """Workers report in to Redis so the 'worker down' alert sees every host."""
    global _last_heartbeat
    now = time.time()
    if now - _last_heartbeat < HEARTBEAT_INTERVAL_SECONDS:
        return
    _last_heartbeat = now
    hostname = getattr(getattr(sender, "eventer", None), "hostname", None) or "worker"
    record_heartbeat(redis_client(), hostname, now)
