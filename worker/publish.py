"""Hand committed events to the workers, after commit.

A message says only "tenant T has pending events": the worker claims whatever
is pending (level-triggered), so a duplicate message is harmless and a lost one
is made good by the relay. A short-lived Redis key collapses a burst of writes
into one queued message per tenant; the worker deletes the key before it
claims, so an event committed after that point always sends a fresh message.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog
from sqlalchemy import Engine

from storage import outbox
from storage.db import unit_of_work
from worker.celery_app import app
from worker.connections import redis_client
from worker.metrics.pipeline import received_counter_key

log = structlog.get_logger(__name__)
APPLY_TASK = "scimsync.apply_tenant"
KICK_TTL_SECONDS = 30


def kick_key(tenant_id: str) -> str:
    return f"scimsync:kick:{tenant_id}"


def kick(
    tenant_id: str, *, force: bool = False, countdown: float | None = None, received: int = 0
) -> bool:
    """Queue an apply for the tenant; False when one is already queued. Raises on Redis errors.

    `received` events are added to the ingest counter in the same round trip as the
    dedupe check: on the write path every round trip is paid by the IdP's request.
    """
    pipe = redis_client().pipeline(transaction=False)
    # A forced kick sends anyway, but still marks a message as queued for the others.
    pipe.set(kick_key(tenant_id), 1, nx=not force, ex=KICK_TTL_SECONDS)
    if received:
        pipe.hincrby(received_counter_key(), tenant_id, received)
    if not pipe.execute()[0]:
        return False
    app.send_task(APPLY_TASK, args=[tenant_id], countdown=countdown, retry=False)
    return True


def publish(engine: Engine, tenant_id: str, event_ids: Sequence[int]) -> bool:
    """Best effort: with Redis down the events stay unpublished and the relay takes over."""
    if not event_ids:
        return True
    try:
        kick(tenant_id, received=len(event_ids))
    except Exception as exc:  # any broker failure: the outbox still holds the event
        log.warning("publish_failed", tenant_id=tenant_id, events=len(event_ids), error=str(exc))
        try:  # the events were committed as published: let the relay republish them soon
            with unit_of_work(engine) as conn:
                outbox.mark_unpublished(conn, event_ids)
        except Exception as exc2:  # the relay's stalled check re-kicks them later
            log.warning("mark_unpublished_failed", tenant_id=tenant_id, error=str(exc2))
        return False
    return True
