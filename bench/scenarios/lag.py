"""4 · Lag: ingest → applied under a steady stream of POST /Users.

A paced client starts 200 requests/s for 60 s whatever the answers; API,
worker and beat run as in production. Lag per event is applied_at - received_at
from change_events (both stamped by the service on this machine's clock). The
anchor is the floor of "one Celery task per event": a task that only records
its enqueue → run latency, sent at the same rate to a worker on the same Redis.
"""

from __future__ import annotations

import time

from sqlalchemy import select

from bench import loadgen
from bench.harness import Stack, stack
from bench.noop_celery import LATENCY_KEY, QUEUE
from bench.payloads import user_body
from bench.processes import wait_until
from bench.report import Row, Target
from bench.scenarios import ScenarioContext
from bench.seed import pending_events
from storage.clock import as_utc
from storage.db import unit_of_work
from storage.schema import change_events

TARGET = Target("≤ 1,000 ms", max_value=1000.0)


def _lags(st: Stack, tenant_id: str) -> list[float]:
    with unit_of_work(st.engine, write=False) as conn:
        rows = conn.execute(
            select(change_events.c.received_at, change_events.c.applied_at).where(
                change_events.c.tenant_id == tenant_id, change_events.c.applied_at.is_not(None)
            )
        )
        return [1000 * (as_utc(r.applied_at) - as_utc(r.received_at)).total_seconds() for r in rows]


def measure_ours(ctx: ScenarioContext, st: Stack) -> tuple[list[float], loadgen.LoadResult]:
    s = ctx.sizes
    tenant = st.create_tenant()
    base = tenant.scim_base(st.start(workers=s.worker_concurrency, beat=True))
    total = int(s.lag_rate * s.lag_seconds)
    ctx.progress(f"scim-sync: POST /Users at {s.lag_rate:.0f}/s for {s.lag_seconds:.0f} s")
    jobs = (loadgen.request("POST", f"{base}/Users", json=user_body(i)) for i in range(total))
    result = loadgen.run_paced(
        jobs, rate=s.lag_rate, headers=tenant.headers, duration=s.lag_seconds
    )

    def applied() -> bool:
        left = pending_events(st.engine, tenant.id)
        ctx.progress(f"scim-sync: waiting for {left:,} events to apply")
        return left == 0

    wait_until(
        applied, what="every event applied", timeout=300, watch=st.procs.started, interval=0.2
    )
    return _lags(st, tenant.id), result


def measure_anchor(ctx: ScenarioContext, st: Stack) -> list[float]:
    s = ctx.sizes
    st.start_noop_worker(s.worker_concurrency, queue=QUEUE)
    app, client = st.celery_client(), st.redis()
    total = int(s.lag_rate * s.lag_anchor_seconds)
    ctx.progress(f"Celery no-op: {total:,} tasks at {s.lag_rate:.0f}/s")
    with app.producer_or_acquire() as producer:
        started = time.monotonic()
        for index in range(total):
            delay = started + index / s.lag_rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            app.send_task("bench.stamp", args=[time.time()], queue=QUEUE, producer=producer)
    wait_until(
        lambda: client.llen(LATENCY_KEY) >= total,
        what="every stamp task run",
        timeout=120,
        watch=st.procs.started,
        interval=0.2,
    )
    return [1000 * float(v) for v in client.lrange(LATENCY_KEY, 0, -1)]


def run(ctx: ScenarioContext) -> list[Row]:
    s = ctx.sizes
    with stack(ctx.backend, ctx.root, ctx.progress) as st:
        lags, load = measure_ours(ctx, st)
        st.procs.stop_all()
        anchor = measure_anchor(ctx, st)
    p = loadgen.percentile
    # A paced client holds the asked rate only while the API keeps up; past 512 requests in
    # flight it waits, so the achieved rate is what the API accepted.
    rate = f"{load.offered_rate:.0f} req/s achieved of {s.lag_rate:.0f} asked"
    notes = [
        f"{load.jobs:,} POSTs started over {s.lag_seconds:.0f} s, {len(lags):,} events "
        f"applied; API + worker x{s.worker_concurrency} + "
        f"beat; the POSTs' own p99 was {1000 * p(load.latencies, 0.99):,.0f} ms; the "
        f"anchor ran {s.lag_anchor_seconds:.0f} s",
        load.describe_failures(201),
    ]
    return [
        ctx.row(
            f"ingest→applied lag p99 ({rate})",
            "ms",
            p(lags, 0.99),
            anchor=p(anchor, 0.99),
            anchor_label="Celery task",
            target=TARGET,
            note="; ".join(filter(None, notes)),
        ),
        ctx.row(
            f"ingest→applied lag p50 ({rate})",
            "ms",
            p(lags, 0.5),
            anchor=p(anchor, 0.5),
            anchor_label="Celery task",
        ),
    ]
