"""6 · Big group: PATCH adding 1,000 members to a 50,000-member group.

Two figures: the PATCH's response time (what the IdP waits for) and the time
until the change is applied to the workspace (event applied_at - the moment the
request was sent). The anchor is the same pair for a PATCH adding one member to
the same group, so the ratios show what the size of the change costs.

Setup: users and the group are seeded by bulk SQL with their create events,
then applied in this process through the real apply path (worker.pipeline),
so the workspace holds the 50,000 memberships before the API and worker start.
"""

from __future__ import annotations

import statistics
import time
from datetime import datetime

import httpx
from sqlalchemy import func, select

from bench.harness import BenchTenant, Stack, stack
from bench.payloads import add_members_patch
from bench.processes import wait_until
from bench.report import Row
from bench.scenarios import ScenarioContext
from bench.seed import apply_all, seed_group, seed_users
from storage.clock import as_utc, utcnow
from storage.db import unit_of_work
from storage.schema import change_events, group_memberships, workspace_groups

SINGLE_PATCHES = 3  # the anchor is the median of three one-member PATCHes


def _applied_at(st: Stack, tenant_id: str, group_id: str, version: int) -> datetime | None:
    with unit_of_work(st.engine, write=False) as conn:
        value = conn.execute(
            select(change_events.c.applied_at).where(
                change_events.c.tenant_id == tenant_id,
                change_events.c.resource_id == group_id,
                change_events.c.version == version,
            )
        ).scalar()
    return as_utc(value) if value else None


def patch(
    st: Stack, tenant: BenchTenant, base: str, group_id: str, member_ids: list[str]
) -> tuple[float, float]:
    """(response seconds, seconds until applied) of one PATCH adding `member_ids`."""
    sent_at = utcnow()
    started = time.perf_counter()
    response = httpx.patch(
        f"{base}/Groups/{group_id}",
        json=add_members_patch(member_ids),
        headers=tenant.headers,
        params={"excludedAttributes": "members"},
        timeout=120,
    )
    answered = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"PATCH answered {response.status_code}: {response.text[:300]}")
    version = int(response.headers["ETag"].split('"')[1])
    wait_until(
        lambda: _applied_at(st, tenant.id, group_id, version) is not None,
        what="the group PATCH applied",
        timeout=120,
        watch=st.procs.started,
        interval=0.02,
    )
    applied_at = _applied_at(st, tenant.id, group_id, version)
    assert applied_at is not None
    return answered, (applied_at - sent_at).total_seconds()


def _scim_memberships(st: Stack, tenant_id: str, group_id: str) -> int:
    with unit_of_work(st.engine, write=False) as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(
                    group_memberships.join(
                        workspace_groups,
                        (workspace_groups.c.tenant_id == group_memberships.c.tenant_id)
                        & (workspace_groups.c.id == group_memberships.c.group_id),
                    )
                )
                .where(
                    workspace_groups.c.tenant_id == tenant_id,
                    workspace_groups.c.scim_group_id == group_id,
                )
            ).scalar_one()
        )


def run(ctx: ScenarioContext) -> list[Row]:
    s = ctx.sizes
    size, added = s.big_group_members, s.big_group_added
    with stack(ctx.backend, ctx.root, ctx.progress) as st:
        tenant = st.create_tenant()
        ids = seed_users(
            st.engine,
            tenant.id,
            range(size + SINGLE_PATCHES + added),
            events=True,
            progress=ctx.progress,
        )
        group_id = seed_group(st.engine, tenant.id, 0, ids[:size], events=True)
        seconds = apply_all(st.engine, tenant.id, progress=ctx.progress)
        base = tenant.scim_base(st.start(workers=s.worker_concurrency, beat=True))
        ctx.progress("PATCH +1 member (anchor)")
        singles = [
            patch(st, tenant, base, group_id, [ids[size + k]]) for k in range(SINGLE_PATCHES)
        ]
        ctx.progress(f"PATCH +{added:,} members")
        big = patch(st, tenant, base, group_id, ids[size + SINGLE_PATCHES :])
        held = _scim_memberships(st, tenant.id, group_id)
    expected = size + SINGLE_PATCHES + added
    note = (
        f"group of {size:,} (+{SINGLE_PATCHES} from the anchor PATCHes) seeded by bulk SQL "
        f"and applied in-process in {seconds:.0f} s; anchor = median of {SINGLE_PATCHES} "
        f"one-member PATCHes"
    )
    if held != expected:
        note += f"; CHECK FAILED: workspace group holds {held:,} members, expected {expected:,}"
    one_answer = statistics.median(a for a, _ in singles)
    one_applied = statistics.median(b for _, b in singles)
    return [
        ctx.row(
            f"PATCH +{added:,} members to a {size:,} group: response",
            "ms",
            1000 * big[0],
            anchor=1000 * one_answer,
            anchor_label="PATCH +1",
            note=note,
        ),
        ctx.row(
            f"PATCH +{added:,} members to a {size:,} group: until applied",
            "ms",
            1000 * big[1],
            anchor=1000 * one_applied,
            anchor_label="PATCH +1",
        ),
    ]
