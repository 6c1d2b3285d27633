"""Hand committed events to the workers, after commit.

A message says only "tenant T has pending events": the worker claims whatever
is pending (level-triggered), so a duplicate message is harmless and a lost one
is made good by the relay. A short-lived Redis key collapses a burst of writes
into one queued message per tenant; the worker deletes the key before it
claims, so an event committed after that point always sends a fresh message.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import redis
import structlog
from sqlalchemy import Engine

from storage import outbox
from storage.clock import utcnow
from storage.db import unit_of_work
from worker.redis_url import redis_url
from worker.settings import get_settings

log = structlog.get_logger(__name__)
APPLY_TASK = "scimsync.apply_tenant"
KICK_TTL_SECONDS = 30


def kick_key(tenant_id: str) -> str:
    return f"scimsync:kick:{tenant_id}"


@lru_cache(maxsize=1)
def redis_client() -> redis.Redis:
    return redis.Redis.from_url(
        redis_url(get_settings()),
        socket_connect_timeout=1,
        socket_timeout=2,
        health_check_interval=30,
    )


def kick(tenant_id: str, *, force: bool = False, countdown: float | None = None) -> bool:
    """Queue an apply for the tenant; False when one is already queued. Raises on Redis errors."""
    from worker.celery_app import app

    if not force and not redis_client().set(kick_key(tenant_id), 1, nx=True, ex=KICK_TTL_SECONDS):
        return False
    app.send_task(APPLY_TASK, args=[tenant_id], countdown=countdown, retry=False)
    return True


def publish(engine: Engine, tenant_id: str, event_ids: Sequence[int]) -> bool:
    """Best effort: with Redis down the events stay unpublished and the relay takes over."""
    if not event_ids:
        return True
    from worker import metrics_hooks

    metrics_hooks.received(tenant_id, len(event_ids))
    try:
        kick(tenant_id)
    except Exception as exc:  # any broker failure: the outbox still holds the event
        log.warning("publish_failed", tenant_id=tenant_id, events=len(event_ids), error=str(exc))
        return False
    try:
        with unit_of_work(engine) as conn:
            outbox.mark_published(conn, event_ids, utcnow())
    except Exception as exc:  # the relay republishes; a duplicate message is harmless
        log.warning("mark_published_failed", tenant_id=tenant_id, error=str(exc))
    return True
