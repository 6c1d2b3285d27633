"""Storage for the full reconcile: keys in order (both sides merged), what a drift item
needs to name (group counts, membership changes), run rows (their items:
storage/reconcile_items.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, and_, func, select, union, update

from reconciler.drift import MembershipChange
from reconciler.model import GroupSnapshot, UserSnapshot
from storage.schema import (
    group_memberships,
    members,
    mirror_groups,
    mirror_users,
    reconcile_runs,
    workspace_groups,
)
from storage.workspace.membership_sql import KeySet
from storage.workspace.mirror_tables import MIRROR, MirrorTables
from storage.workspace.statistics import refresh_statistics, stale_statistics
from storage.workspace.store import SqlWorkspaceStore


class SqlReconcileStore(SqlWorkspaceStore):
    """The workspace store, plus what a full run needs to stream a tenant in key order.

    A chunk of the full run is every key in a range (`keys_after`), so the loads of that
    chunk read their rows by index range scans over the range rather than by long
    `IN (...)` lists; loads of other ids (or of another kind) fall back to the lists.
    """

    def __init__(
        self, conn: Connection, *, lock_tenant: bool = True, mirror: MirrorTables = MIRROR
    ):
        super().__init__(conn, lock_tenant=lock_tenant, mirror=mirror)
        self._window: tuple[str, frozenset[str], tuple[str, str]] | None = None

    def statistics_stale(self) -> bool:
        """Whether the planner statistics are missing or stale: a bulk import or an initial
        sync leaves them so, and the membership joins of a pass then go wrong."""
        return bool(stale_statistics(self.conn))

    def refresh_statistics(self) -> None:
        refresh_statistics(self.conn)

    def keys_after(
        self, tenant_id: str, kind: Literal["User", "Group"], after: str | None, limit: int
    ) -> list[str]:
        """The next `limit` resource ids, from either side: the mirror's ids and the ids the
        workspace is linked to (an extra member or group has only the latter). A planned
        mirror's keys are the mirror's and the run's new ones; an id the source no longer
        has is listed as well, which is harmless: its snapshot wants nothing.

        Each side contributes its own next `limit` ids, read in index order, and the
        database merges those: the first `limit` of the union are among them, so a chunk
        costs the same at the end of a tenant as at its start."""
        if kind == "User":
            mirrored = self.mirror.user_keys
            linked = (members.c.scim_user_id, members.c.tenant_id)
        else:
            mirrored = self.mirror.group_keys
            linked = (workspace_groups.c.scim_group_id, workspace_groups.c.tenant_id)
        sides = [*((t.c.id, t.c.tenant_id) for t in mirrored), linked]
        parts = []
        for column, tenant in sides:
            query = select(column.label("key")).where(tenant == tenant_id, column.is_not(None))
            if after is not None:
                query = query.where(column > after)
            part = query.order_by(column).limit(limit).subquery()
            parts.append(select(part.c.key))
        both = union(*parts).subquery()
        rows = self.conn.execute(select(both.c.key).order_by(both.c.key).limit(limit))
        keys = [r.key for r in rows]
        self._window = (kind, frozenset(keys), (keys[0], keys[-1])) if keys else None
        return keys

    def _in_window(self, kind: str, ids: Sequence[str]) -> KeySet | None:
        """The ids as a range load, when they all belong to the last chunk of keys."""
        if self._window is None or self._window[0] != kind:
            return None
        _, window, bounds = self._window
        unique = list(dict.fromkeys(ids))
        return KeySet(unique, bounds) if window.issuperset(unique) else None

    def load_users(self, tenant_id: str, scim_ids: Sequence[str]) -> dict[str, UserSnapshot]:
        keys = self._in_window("User", scim_ids)
        if keys is None:
            return super().load_users(tenant_id, scim_ids)
        return self._load_user_chunk(tenant_id, keys) if keys.ids else {}

    def load_groups(self, tenant_id: str, scim_ids: Sequence[str]) -> dict[str, GroupSnapshot]:
        keys = self._in_window("Group", scim_ids)
        if keys is None:
            return super().load_groups(tenant_id, scim_ids)
        return self._load_group_chunk(tenant_id, keys) if keys.ids else {}

    def member_count(self, tenant_id: str) -> int:
        return int(
            self.conn.execute(
                select(func.count()).select_from(members).where(members.c.tenant_id == tenant_id)
            ).scalar_one()
        )

    def key_count(self, tenant_id: str) -> int:
        total = 0
        for table in (mirror_users, mirror_groups):
            query = select(func.count()).select_from(table).where(table.c.tenant_id == tenant_id)
            total += int(self.conn.execute(query).scalar_one())
        return total

    def group_counts(self, tenant_id: str, member_ids: Sequence[str]) -> dict[str, int]:
        gm = group_memberships
        query = (
            select(gm.c.member_id, func.count())
            .where(gm.c.tenant_id == tenant_id, gm.c.member_id.in_(list(member_ids)))
            .group_by(gm.c.member_id)
        )
        return {member_id: int(n) for member_id, n in self.conn.execute(query).tuples().all()}

    def membership_changes(
        self, tenant_id: str, group_scim_ids: Sequence[str]
    ) -> list[MembershipChange]:
        """Desired (mirror) against held SCIM memberships of these groups, by member; the
        groups a run syncs are few per chunk, so the comparison is made here."""
        ids = list(group_scim_ids)
        mg = self.mirror.groups
        mgm, m, gm, wg = self.mirror.group_members, members, group_memberships, workspace_groups
        desired = (
            select(mgm.c.group_id, m.c.id, m.c.scim_user_id, m.c.email)
            .join(m, and_(m.c.tenant_id == mgm.c.tenant_id, m.c.scim_user_id == mgm.c.member_id))
            .where(mgm.c.tenant_id == tenant_id, mgm.c.group_id.in_(ids))
            .where(mgm.c.member_type == "User")
        )
        held = (
            select(wg.c.scim_group_id, m.c.id, m.c.scim_user_id, m.c.email)
            .select_from(gm)
            .join(wg, and_(wg.c.tenant_id == gm.c.tenant_id, wg.c.id == gm.c.group_id))
            .join(m, and_(m.c.tenant_id == gm.c.tenant_id, m.c.id == gm.c.member_id))
            .where(gm.c.tenant_id == tenant_id, gm.c.source == "scim")
            .where(wg.c.scim_group_id.in_(ids))
        )
        names = dict(
            self.conn.execute(
                select(mg.c.id, mg.c.display_name).where(
                    mg.c.tenant_id == tenant_id, mg.c.id.in_(ids)
                )
            )
            .tuples()
            .all()
        )
        want = {(r[0], r[1]): r for r in self.conn.execute(desired).tuples()}
        have = {(r[0], r[1]): r for r in self.conn.execute(held).tuples()}
        changes = [
            MembershipChange(g, names.get(g, g), scim or "", email, key not in have)
            for key, (g, _, scim, email) in [
                *((k, want[k]) for k in want.keys() - have.keys()),
                *((k, have[k]) for k in have.keys() - want.keys()),
            ]
        ]
        return sorted(changes, key=lambda c: (c.group_scim_id, not c.added, c.member_email))


def start_run(
    conn: Connection, tenant_id: str, *, source: str, dry_run: bool, forced: bool, now: datetime
) -> int:
    result = conn.execute(
        reconcile_runs.insert().values(
            tenant_id=tenant_id,
            source=source,
            dry_run=dry_run,
            forced=forced,
            outcome="running",
            counts={},
            actions=[],
            started_at=now,
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def superseded(conn: Connection, tenant_id: str, run_id: int) -> bool:
    """Whether a later run of the tenant has started: it holds the lease now, so this run
    must not write (the fencing check; run ids only grow)."""
    later = select(reconcile_runs.c.id).where(
        reconcile_runs.c.tenant_id == tenant_id, reconcile_runs.c.id > run_id
    )
    return conn.execute(later.limit(1)).first() is not None


def finish_run(
    conn: Connection,
    run_id: int,
    *,
    outcome: str,
    counts: dict[str, int],
    error: str | None,
    now: datetime,
    duration: float,
    destructive: int = 0,
    members: int | None = None,
) -> None:
    conn.execute(
        update(reconcile_runs)
        .where(reconcile_runs.c.id == run_id)
        .values(
            outcome=outcome,
            counts=counts,
            item_count=sum(counts.values()),
            destructive=destructive,
            members=members,
            error=error,
            finished_at=now,
            duration_seconds=duration,
        )
    )


RUN_COLUMNS = (
    "id",
    "tenant_id",
    "source",
    "dry_run",
    "forced",
    "outcome",
    "counts",
    "item_count",
    "destructive",
    "members",
    "error",
    "started_at",
    "finished_at",
    "duration_seconds",
)


def get_run(conn: Connection, run_id: int) -> dict[str, Any] | None:
    columns = [reconcile_runs.c[c] for c in RUN_COLUMNS]
    row = conn.execute(select(*columns).where(reconcile_runs.c.id == run_id)).first()
    return dict(row._mapping) if row else None


def recent_runs(
    conn: Connection, tenant_id: str | None = None, limit: int = 20, before_id: int | None = None
) -> list[dict[str, Any]]:
    """The latest runs, newest first (keyset pages: pass the last id seen as `before_id`)."""
    query = (
        select(*[reconcile_runs.c[c] for c in RUN_COLUMNS])
        .order_by(reconcile_runs.c.id.desc())
        .limit(limit)
    )
    if tenant_id:
        query = query.where(reconcile_runs.c.tenant_id == tenant_id)
    if before_id is not None:
        query = query.where(reconcile_runs.c.id < before_id)
    return [dict(r._mapping) for r in conn.execute(query)]


def last_started(conn: Connection, tenant_id: str) -> datetime | None:
    return conn.execute(
        select(func.max(reconcile_runs.c.started_at)).where(
            reconcile_runs.c.tenant_id == tenant_id, reconcile_runs.c.dry_run.is_(False)
        )
    ).scalar()
