"""3 · Apply: how fast workers drain a backlog of change events, vs one Celery no-op per event.

The backlog is what an initial import leaves when the workers are stopped: N
users in the mirror, each with its pending create event (seeded by bulk SQL).
Then `scimsync worker` starts; once it answers a ping, the apply task is sent
and the clock runs until no event of the tenant is pending. The anchor, on the
same Redis: a Celery worker with the same concurrency started on an idle queue,
N no-op tasks enqueued, then the clock runs from the moment the worker is told
to consume their queue until none is queued or unacknowledged.
"""

from __future__ import annotations

import json
import time

import redis
from sqlalchemy import func, select

from bench.harness import Stack, stack
from bench.noop_celery import QUEUE
from bench.processes import wait_until
from bench.report import Row, Target
from bench.scenarios import ScenarioContext
from bench.seed import dead_letter_count, pending_events, seed_users
from storage.db import unit_of_work
from storage.schema import members

POLL_SECONDS = 0.1
IDLE_QUEUE = "bench-idle"  # the anchor worker waits here, warm, until the clock starts


def drain_ours(ctx: ScenarioContext, st: Stack, tenant_id: str, events: int) -> float:
    st.start_worker(ctx.sizes.worker_concurrency)
    started = time.monotonic()
    st.kick(tenant_id)

    def drained() -> bool:
        left = pending_events(st.engine, tenant_id)
        ctx.progress(f"scim-sync: {left:,} of {events:,} events pending")
        return left == 0

    wait_until(
        drained,
        what="the backlog to drain",
        timeout=600 + events / 50,
        watch=st.procs.started,
        interval=POLL_SECONDS,
    )
    return time.monotonic() - started


def _in_flight(client: redis.Redis, queue: str) -> int:
    """Messages of `queue` delivered but not yet acknowledged (kombu's `unacked` hash holds
    [message, exchange, routing key]; a stopped scimsync worker may have left its own)."""
    return sum(json.loads(raw)[-1] == queue for raw in client.hvals("unacked"))


def drain_noop(ctx: ScenarioContext, st: Stack, tasks: int) -> float:
    node = st.start_noop_worker(ctx.sizes.worker_concurrency, queue=IDLE_QUEUE)
    app = st.celery_client()
    with app.producer_or_acquire() as producer:
        for index in range(tasks):
            app.send_task("bench.noop", args=[index], queue=QUEUE, producer=producer)
            if index % 1000 == 0:
                ctx.progress(f"Celery no-op: enqueued {index:,} of {tasks:,} tasks")
    client = st.redis()
    started = time.monotonic()
    app.control.add_consumer(QUEUE, destination=[node])

    def drained() -> bool:
        left = client.llen(QUEUE) + _in_flight(client, QUEUE)
        ctx.progress(f"Celery no-op: {left:,} of {tasks:,} tasks left")
        return left == 0

    wait_until(
        drained,
        what="the no-op tasks to drain",
        timeout=600 + tasks / 20,
        watch=st.procs.started,
        interval=POLL_SECONDS,
    )
    return time.monotonic() - started


def _members(st: Stack, tenant_id: str) -> int:
    with unit_of_work(st.engine, write=False) as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(members)
                .where(members.c.tenant_id == tenant_id, members.c.scim_user_id.is_not(None))
            ).scalar_one()
        )


def run(ctx: ScenarioContext) -> list[Row]:
    s = ctx.sizes
    with stack(ctx.backend, ctx.root, ctx.progress) as st:
        tenant = st.create_tenant()
        seed_users(st.engine, tenant.id, range(s.apply_events), events=True, progress=ctx.progress)
        ours = drain_ours(ctx, st, tenant.id, s.apply_events)
        applied, dead = _members(st, tenant.id), dead_letter_count(st.engine, tenant.id)
        st.procs.stop_all()
        anchor = drain_noop(ctx, st, s.apply_anchor_tasks)
    target = (
        Target("≥ 4x anchor and ≥ 2,000 /s", min_ratio=4.0, min_value=2000.0)
        if ctx.backend == "postgres"
        else Target("≥ 4x anchor", min_ratio=4.0)
    )
    notes = [
        f"{s.apply_events:,}-event backlog (bulk SQL), one tenant, 1 worker process "
        f"x {s.worker_concurrency}; anchor drained {s.apply_anchor_tasks:,} no-op tasks "
        f"with the same concurrency"
    ]
    if applied != s.apply_events or dead:
        notes.append(
            f"CHECK FAILED: {applied:,} SCIM members in the workspace, {dead} dead letters"
        )
    return [
        ctx.row(
            "backlog drain (events applied)",
            "/s",
            s.apply_events / ours,
            anchor=s.apply_anchor_tasks / anchor,
            anchor_label="Celery no-op",
            target=target,
            note="; ".join(notes),
        )
    ]
