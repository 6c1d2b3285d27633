"""7 · Initial import, the way Okta pushes it, until the workspace matches.

For each user: `GET /Users?filter=userName eq …` (not found) then `POST /Users`.
Then for each group: `GET /Groups?filter=displayName eq …`, `POST /Groups`
without members, and one `PATCH` adding its members. Ours runs with API,
worker and beat up; the clock stops when every event is applied and the
workspace holds every user as a SCIM member, every group and every membership.
The anchor is the same pushes against scim2-server, which has no workspace to
apply, so the ratio is the whole cost of ending with a real workspace.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select

from bench import loadgen
from bench.harness import Stack, stack
from bench.payloads import add_members_patch, group_body, group_filter, user_body, user_filter
from bench.processes import wait_until
from bench.report import Row
from bench.scenarios import ScenarioContext
from bench.seed import pending_events
from bench.servers import reference_server
from storage.db import unit_of_work
from storage.schema import group_memberships, members, workspace_groups


class OktaPush:
    """The jobs of one import against one SCIM base URL; remembers the ids it was given."""

    def __init__(self, base: str, users: int, groups: int):
        self.base, self.users, self.groups = base, users, groups
        self.user_ids: dict[int, str] = {}
        self.group_sizes: dict[int, int] = {}  # groups created, with the members PATCHed in
        self.errors = 0

    def _created(self, response: Any) -> str | None:
        if response is None or response.status_code != 201:
            self.errors += 1
            return None
        return str(response.json()["id"])

    def user_job(self, index: int) -> loadgen.Job:
        async def push(s: loadgen.Session) -> None:
            await s.send("GET", f"{self.base}/Users", params={"filter": user_filter(index)})
            created = self._created(
                await s.send("POST", f"{self.base}/Users", json=user_body(index))
            )
            if created:
                self.user_ids[index] = created

        return push

    def members_of(self, group: int) -> list[str]:
        return [
            self.user_ids[i] for i in range(group, self.users, self.groups) if i in self.user_ids
        ]

    def group_job(self, index: int) -> loadgen.Job:
        async def push(s: loadgen.Session) -> None:
            await s.send("GET", f"{self.base}/Groups", params={"filter": group_filter(index)})
            group_id = self._created(
                await s.send("POST", f"{self.base}/Groups", json=group_body(index))
            )
            if group_id:
                member_ids = self.members_of(index)
                response = await s.send(
                    "PATCH", f"{self.base}/Groups/{group_id}", json=add_members_patch(member_ids)
                )
                ok = response is not None and response.status_code in (200, 204)
                self.group_sizes[index] = len(member_ids) if ok else 0
                self.errors += not ok

        return push

    def expected(self) -> tuple[int, int, int]:
        """What the workspace must end with, given what was accepted."""
        return len(self.user_ids), len(self.group_sizes), sum(self.group_sizes.values())

    def run(
        self, headers: dict[str, str], concurrency: int, progress: Callable[[str], None]
    ) -> float:
        started = time.monotonic()
        progress(f"pushing {self.users:,} users")
        loadgen.run_closed(
            [self.user_job(i) for i in range(self.users)], concurrency=concurrency, headers=headers
        )
        progress(f"pushing {self.groups:,} groups")
        loadgen.run_closed(
            [self.group_job(g) for g in range(self.groups)],
            concurrency=concurrency,
            headers=headers,
        )
        return time.monotonic() - started


def workspace_counts(st: Stack, tenant_id: str) -> tuple[int, int, int]:
    """(SCIM members, SCIM groups, memberships of SCIM groups) in the workspace."""
    with unit_of_work(st.engine, write=False) as conn:
        count = func.count()
        users = conn.execute(
            select(count)
            .select_from(members)
            .where(members.c.tenant_id == tenant_id, members.c.scim_user_id.is_not(None))
        ).scalar_one()
        groups = conn.execute(
            select(count)
            .select_from(workspace_groups)
            .where(
                workspace_groups.c.tenant_id == tenant_id,
                workspace_groups.c.scim_group_id.is_not(None),
            )
        ).scalar_one()
        links = conn.execute(
            select(count)
            .select_from(group_memberships)
            .where(group_memberships.c.tenant_id == tenant_id, group_memberships.c.source == "scim")
        ).scalar_one()
    return int(users), int(groups), int(links)


def _anchor(ctx: ScenarioContext) -> tuple[float, int]:
    s = ctx.sizes
    with reference_server(ctx.root, say=ctx.progress) as ref:
        push = OktaPush(ref.base_url, s.import_users, s.import_groups)
        seconds = push.run(
            ref.headers, s.import_concurrency, lambda m: ctx.progress(f"scim2-server: {m}")
        )
    return seconds, push.errors


def run(ctx: ScenarioContext) -> list[Row]:
    s = ctx.sizes
    anchor, anchor_errors = ctx.once("import.anchor", lambda: _anchor(ctx))
    with stack(ctx.backend, ctx.root, ctx.progress) as st:
        tenant = st.create_tenant()
        base = tenant.scim_base(st.start(workers=s.worker_concurrency, beat=True))
        push = OktaPush(base, s.import_users, s.import_groups)
        started = time.monotonic()
        pushed = push.run(
            tenant.headers, s.import_concurrency, lambda m: ctx.progress(f"scim-sync: {m}")
        )

        expected = push.expected()

        def matches() -> bool:
            counts = workspace_counts(st, tenant.id)
            ctx.progress(f"scim-sync: workspace {counts} of {expected}")
            return counts == expected and pending_events(st.engine, tenant.id) == 0

        wait_until(
            matches,
            what="the workspace to match",
            timeout=900,
            watch=st.procs.started,
            interval=0.25,
        )
        done = time.monotonic() - started
    note = (
        f"{s.import_users:,} users, {s.import_groups:,} groups of "
        f"{s.import_users // s.import_groups} members, {s.import_concurrency} concurrent "
        f"pushes; anchor = the same pushes to scim2-server"
    )
    calls = 2 * s.import_users + 3 * s.import_groups
    note += f"; {calls:,} calls: scim-sync answered {calls / pushed:,.0f}/s, scim2-server "
    note += f"{calls / anchor:,.0f}/s"
    if push.errors or anchor_errors:
        note += f"; {push.errors} failed pushes (scim2-server: {anchor_errors})"
    return [
        ctx.row(
            "initial import: until the workspace matches",
            "s",
            done,
            anchor=anchor,
            anchor_label="scim2-server pushes",
            note=note,
        ),
        ctx.row(
            "initial import: pushes answered",
            "s",
            pushed,
            anchor=anchor,
            anchor_label="scim2-server pushes",
        ),
    ]
