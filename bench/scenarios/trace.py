"""8 · Trace: `GET /api/v1/workspaces/{t}/trace?q=…` latency at 100,000 users and
1,000,000 change events.

Seeding, in three parts (the note of the row repeats the figures):
1. the users and groups go through the one ingest write path (events/ingest/service.py,
   in-process, 1,000 writes per request as a /Bulk would), so their events, audit rows
   (with the request origin) and trace refs are exactly what production writes; then
   the real apply path (`worker.pipeline.drain`) builds the workspace from them;
2. the remaining events up to the total are bulk-inserted change events of PATCHes
   spread over the users, each audited by the ingest's own audit statement
   (`storage.audit.record_writes`), marked applied. Writing 900,000 PATCHes through the
   ingest costs ~0.3-1 ms each on this shared 2-core machine (minutes per backend,
   measured in part 1 and printed in the note); the rows are the same;
3. lookups by email (people) and by group name, one at a time over HTTP, after a
   warm-up; each must answer 200 with a timeline.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import Engine, func, insert, select

from bench.payloads import group_body, group_name, user_body, user_name
from bench.report import Row, Target
from bench.scenarios import ScenarioContext
from storage import audit, tenants
from storage.clock import utcnow
from storage.db import unit_of_work
from storage.event_state import EventState
from storage.schema import change_events

TARGET = Target("≤ 50 ms", max_value=50.0)
WRITES_PER_REQUEST = 1000
MEMBERS_PER_GROUP = 100
WARMUP = 30


def _quiet(tenant_id: str, event_ids: Sequence[int]) -> None:
    """No broker in this scenario: the apply runs in-process (drain)."""


def _ingest_people(
    engine: Engine, tenant_id: str, users: int, say: Callable[[str], None]
) -> tuple[list[str], float]:
    """Users, then groups of MEMBERS_PER_GROUP, through the ingest; (user ids, s/write)."""
    from events.ingest.service import ingest_session
    from events.ingest.writes import Kind, Op

    with unit_of_work(engine, write=False) as conn:
        tenant = tenants.get(conn, tenant_id)
    ids: list[str] = []
    started = time.monotonic()
    for start in range(0, users, WRITES_PER_REQUEST):
        with ingest_session(engine, tenant, actor="bench", publish=_quiet) as session:
            for i in range(start, min(start + WRITES_PER_REQUEST, users)):
                record = session.write(Kind.USER, Op.CREATE, user_body(i)).record
                assert record is not None
                ids.append(record.id)
        say(f"ingest: {len(ids):,} users")
    per_write = (time.monotonic() - started) / max(users, 1)
    groups = users // MEMBERS_PER_GROUP
    for start in range(0, groups, WRITES_PER_REQUEST // MEMBERS_PER_GROUP):
        with ingest_session(engine, tenant, actor="bench", publish=_quiet) as session:
            for g in range(start, min(start + WRITES_PER_REQUEST // MEMBERS_PER_GROUP, groups)):
                members = ids[g * MEMBERS_PER_GROUP : (g + 1) * MEMBERS_PER_GROUP]
                session.write(Kind.GROUP, Op.CREATE, group_body(g, members))
    say(f"ingest: {groups:,} groups")
    return ids, per_write


def _apply(engine: Engine, tenant_id: str, say: Callable[[str], None]) -> None:
    from worker.pipeline import drain

    say("apply: building the workspace through the worker's path")
    while drain(engine, tenant_id, batch_size=2000, time_budget=60).applied:
        pass


def _bulk_events(
    engine: Engine, tenant_id: str, ids: list[str], total: int, say: Callable[[str], None]
) -> int:
    """PATCH events (as the ingest stores them) until the tenant has `total`; returns how
    many were added."""
    with unit_of_work(engine, write=False) as conn:
        have = conn.execute(
            select(func.count()).where(change_events.c.tenant_id == tenant_id)
        ).scalar_one()
        next_id = (conn.execute(select(func.max(change_events.c.id))).scalar() or 0) + 1
    wanted = max(total - have, 0)
    rng = random.Random(5)
    now = utcnow()
    origin = audit.RequestOrigin("bench", "PATCH", "/scim/v2/Users", "okta")
    chunk = 5000
    for start in range(0, wanted, chunk):
        rows: list[dict[str, Any]] = []
        for n in range(start, min(start + chunk, wanted)):
            index = n % len(ids)
            body = user_body(index)
            body["displayName"] = f"{body['displayName']} v{n}"
            at = now - timedelta(days=29) + timedelta(seconds=n * 2)
            rows.append(
                {
                    "id": next_id + n,
                    "tenant_id": tenant_id,
                    "resource_type": "User",
                    "resource_id": ids[index],
                    "version": 2 + n // len(ids),
                    "operation": "patch",
                    "source": "scim",
                    "payload": body,
                    "received_at": at,
                    "published_at": at,
                    "applied_at": at + timedelta(milliseconds=rng.randrange(5, 400)),
                    "state": EventState.APPLIED,
                    "attempts": 0,
                }
            )
        with unit_of_work(engine) as conn:
            conn.execute(insert(change_events), rows)
            audit.record_writes(
                conn,
                tenant_id,
                actor="bench",
                event_ids=[int(r["id"]) for r in rows],
                origin=origin,
            )
        say(f"bulk: {start + len(rows):,} of {wanted:,} PATCH events")
    if engine.dialect.name == "postgresql":
        with unit_of_work(engine) as conn:
            conn.exec_driver_sql(
                "SELECT setval(pg_get_serial_sequence('change_events', 'id'), "
                "(SELECT max(id) FROM change_events))"
            )
    return wanted


def _measure(
    api: str, tenant: Any, queries: list[str], warmup: int = WARMUP
) -> tuple[list[float], int]:
    url = f"{api}/api/v1/workspaces/{tenant.id}/trace"
    headers = {"Authorization": f"Bearer {tenant.admin_token}"}
    latencies: list[float] = []
    failures = 0
    with httpx.Client(timeout=30, headers=headers) as client:
        for q in queries[:warmup]:
            client.get(url, params={"q": q})
        for q in queries[warmup:]:
            started = time.perf_counter()
            response = client.get(url, params={"q": q})
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200 or not response.json()["entries"]:
                failures += 1
    return latencies, failures


def _span(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def _ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(ctx: ScenarioContext) -> list[Row]:
    from bench.harness import stack

    s = ctx.sizes
    with stack(ctx.backend, ctx.root, ctx.progress) as st:
        with unit_of_work(st.engine) as conn:  # the admin token is the API's caller
            created = tenants.create_workspace(
                conn, name="bench", sso_domains=["example.com"], idp="okta", owner_email=None
            )
            tenants.enable_scim(conn, created["id"])
        tenant = _Admin(created["id"], created["admin_token"])
        started = time.monotonic()
        ids, per_write = _ingest_people(st.engine, tenant.id, s.trace_users, ctx.progress)
        _apply(st.engine, tenant.id, ctx.progress)
        through_path = time.monotonic() - started
        started = time.monotonic()
        bulk = _bulk_events(st.engine, tenant.id, ids, s.trace_events, ctx.progress)
        bulk_seconds = time.monotonic() - started
        api = st.start_api()
        rng = random.Random(21)
        people = [user_name(rng.randrange(s.trace_users)) for _ in range(s.trace_lookups)]
        teams = [
            group_name(rng.randrange(max(s.trace_users // MEMBERS_PER_GROUP, 1)))
            for _ in range(max(s.trace_lookups // 5, 50))
        ]
        ctx.progress("lookups")
        ours, failed = _measure(api, tenant, people)
        groups, failed_groups = _measure(api, tenant, teams, warmup=10)
    note = (
        f"{s.trace_users:,} users and {s.trace_users // MEMBERS_PER_GROUP:,} groups through "
        f"the ingest write path in-process ({per_write * 1000:.2f} ms a write) and applied by "
        f"the worker's drain: {through_path:.0f} s; {bulk:,} more PATCH events bulk-inserted "
        f"as the ingest stores them, audited by its own statement, in {bulk_seconds:.0f} s "
        f"(through the ingest they would take ~{_span(bulk * per_write)}); "
        f"{len(ours):,} person lookups by email, one at a time over HTTP"
    )
    if failed or failed_groups:
        note += f"; CHECK FAILED: {failed + failed_groups} lookups without a timeline"
    return [
        ctx.row("trace lookup by email p50", "ms", _ms(ours, 0.5), target=TARGET, note=note),
        ctx.row("trace lookup by email p99", "ms", _ms(ours, 0.99), target=TARGET),
        ctx.row("trace lookup by group name p99", "ms", _ms(groups, 0.99), target=TARGET),
    ]


class _Admin:
    def __init__(self, tenant_id: str, admin_token: str) -> None:
        self.id = tenant_id
        self.admin_token = admin_token
