"""Hand committed events to the workers, after commit.

A message says only "tenant T has pending events": the worker claims whatever
is pending (level-triggered), so a duplicate message is harmless and a lost one
is made good by the relay. A short-lived Redis key collapses a burst of writes
into one queued message per tenant; the worker deletes the key before it
claims, so an event committed after that point always sends a fresh message.

The API publishes through `BatchedPublisher`: requests that commit while a kick is
on its way to Redis share the next one, a single round trip for all their tenants.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import partial

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


def kick_many(received: Mapping[str, int], *, countdown: float | None = None) -> None:
    """`kick(tenant, received=n)` for every tenant in one Redis round trip (plus one
    message for each tenant that had none queued, run `countdown` seconds later). Raises
    on Redis errors."""
    tenants = list(received)
    pipe = redis_client().pipeline(transaction=False)
    for tenant_id in tenants:
        pipe.set(kick_key(tenant_id), 1, nx=True, ex=KICK_TTL_SECONDS)
    counter = received_counter_key()
    for tenant_id in tenants:
        pipe.hincrby(counter, tenant_id, received[tenant_id])
    queued = pipe.execute()[: len(tenants)]
    for tenant_id, fresh in zip(tenants, queued, strict=True):
        if fresh:
            app.send_task(APPLY_TASK, args=[tenant_id], countdown=countdown, retry=False)


class _Batch:
    def __init__(self) -> None:
        self.received: dict[str, int] = {}
        self.done = False
        self.error: Exception | None = None


class KickBatcher:
    """Kicks of concurrent requests share one round trip.

    A caller adds its tenant to the open batch. When no batch is on its way it sends
    the open one itself, otherwise it waits for the one on its way and then for the
    batch holding its kick; it returns once that batch was sent (or raises what
    sending it raised), so a request is still answered only after its kick. Alone, a
    caller sends at once: nothing waits for company.
    """

    def __init__(self, send: Callable[[Mapping[str, int]], None] = kick_many) -> None:
        self._send = send
        self._cond = threading.Condition()
        self._open = _Batch()
        self._sending = False

    def kick(self, tenant_id: str, events: int) -> None:
        self.kick_all({tenant_id: events})

    def kick_all(self, received: Mapping[str, int]) -> None:
        """`kick` for several tenants at once: they travel in the same batch."""
        with self._cond:
            batch = self._open
            for tenant_id, events in received.items():
                batch.received[tenant_id] = batch.received.get(tenant_id, 0) + events
            while not batch.done:
                if self._sending:
                    self._cond.wait()
                    continue
                # Nothing on its way and ours not sent: ours is the open batch. Send it.
                self._sending, self._open = True, _Batch()
                self._cond.release()
                try:
                    self._send(batch.received)
                except Exception as exc:
                    batch.error = exc
                finally:
                    self._cond.acquire()
                    batch.done, self._sending = True, False
                    self._cond.notify_all()
        if batch.error is not None:
            raise batch.error


class BatchedPublisher:
    """The API's publisher (events/ingest/service.py `Publisher`): `publish`, with the
    kicks of concurrent requests batched.

    Inside `gathering()` (a group commit's callbacks, storage/group_commit.py) this
    thread's publishes are only noted, and sent together, one round trip for the whole
    commit, when the block ends.
    """

    def __init__(self, engine: Engine, *, gather_seconds: float = 0.0) -> None:
        self.engine = engine
        # A tenant's apply task runs `gather_seconds` after its first unqueued event: the
        # events of that moment are applied in one transaction (settings: apply_gather).
        self.batcher = KickBatcher(partial(kick_many, countdown=gather_seconds or None))
        self._gathered = threading.local()

    def __call__(self, tenant_id: str, event_ids: Sequence[int]) -> bool:
        gathered: dict[str, list[int]] | None = getattr(self._gathered, "events", None)
        if gathered is not None:
            gathered.setdefault(tenant_id, []).extend(event_ids)
            return True
        return publish(self.engine, tenant_id, event_ids, kicker=self.batcher.kick)

    @contextmanager
    def gathering(self) -> Iterator[None]:
        gathered: dict[str, list[int]] = {}
        self._gathered.events = gathered
        try:
            yield
        finally:
            self._gathered.events = None
            if gathered:
                publish_many(self.engine, gathered, kicker=self.batcher.kick_all)


def _kick_alone(tenant_id: str, events: int) -> None:
    kick(tenant_id, received=events)


def publish(
    engine: Engine,
    tenant_id: str,
    event_ids: Sequence[int],
    *,
    kicker: Callable[[str, int], object] = _kick_alone,
) -> bool:
    """Best effort: with Redis down the events stay unpublished and the relay takes over."""
    if not event_ids:
        return True
    return publish_many(
        engine, {tenant_id: event_ids}, kicker=lambda received: kicker(tenant_id, len(event_ids))
    )


def publish_many(
    engine: Engine,
    events: Mapping[str, Sequence[int]],
    *,
    kicker: Callable[[Mapping[str, int]], object],
) -> bool:
    """`publish` for several tenants' committed events, kicked in one call of `kicker`."""
    received = {tenant_id: len(ids) for tenant_id, ids in events.items() if ids}
    if not received:
        return True
    try:
        kicker(received)
    except Exception as exc:  # any broker failure: the outbox still holds the events
        for tenant_id, count in received.items():
            log.warning("publish_failed", tenant_id=tenant_id, events=count, error=str(exc))
        try:  # the events were committed as published: let the relay republish them soon
            with unit_of_work(engine) as conn:
                outbox.mark_unpublished(conn, [e for ids in events.values() for e in ids])
        except Exception as exc2:  # the relay's stalled check re-kicks them later
            log.warning("mark_unpublished_failed", tenants=list(received), error=str(exc2))
        return False
    return True
