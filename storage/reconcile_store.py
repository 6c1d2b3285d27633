"""Storage for the full reconcile: keys in order (both sides merged), run reports."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, func, select, union, update

from reconciler.model import GroupSnapshot, UserSnapshot
from storage.schema import members, mirror_groups, mirror_users, reconcile_runs, workspace_groups
from storage.workspace.membership_sql import KeySet
from storage.workspace.statistics import refresh_statistics, stale_statistics
from storage.workspace.store import SqlWorkspaceStore


class SqlReconcileStore(SqlWorkspaceStore):
    """The workspace store, plus what a full run needs to stream a tenant in key order.

    A chunk of the full run is every key in a range (`keys_after`), so the loads of that
    chunk read their rows by index range scans over the range rather than by long
    `IN (...)` lists; loads of other ids (or of another kind) fall back to the lists.
    """

    def __init__(self, conn: Connection, *, lock_tenant: bool = True):
        super().__init__(conn, lock_tenant=lock_tenant)
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
        workspace is linked to (an extra member or group has only the latter).

        Each side contributes its own next `limit` ids, read in index order, and the
        database merges those: the first `limit` of the union are among them, so a chunk
        costs the same at the end of a tenant as at its start."""
        if kind == "User":
            sides = (
                (mirror_users.c.id, mirror_users.c.tenant_id),
                (members.c.scim_user_id, members.c.tenant_id),
            )
        else:
            sides = (
                (mirror_groups.c.id, mirror_groups.c.tenant_id),
                (workspace_groups.c.scim_group_id, workspace_groups.c.tenant_id),
            )
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


def finish_run(
    conn: Connection,
    run_id: int,
    *,
    outcome: str,
    counts: dict[str, int],
    actions: list[dict[str, Any]],
    error: str | None,
    now: datetime,
    duration: float,
) -> None:
    conn.execute(
        update(reconcile_runs)
        .where(reconcile_runs.c.id == run_id)
        .values(
            outcome=outcome,
            counts=counts,
            actions=actions,
            error=error,
            finished_at=now,
            duration_seconds=duration,
        )
    )


def get_run(conn: Connection, run_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(reconcile_runs).where(reconcile_runs.c.id == run_id)).first()
    return dict(row._mapping) if row else None


def recent_runs(
    conn: Connection, tenant_id: str | None = None, limit: int = 20
) -> list[dict[str, Any]]:
    query = (
        select(
            reconcile_runs.c.id,
            reconcile_runs.c.tenant_id,
            reconcile_runs.c.source,
            reconcile_runs.c.dry_run,
            reconcile_runs.c.outcome,
            reconcile_runs.c.counts,
            reconcile_runs.c.started_at,
            reconcile_runs.c.finished_at,
            reconcile_runs.c.duration_seconds,
        )
        .order_by(reconcile_runs.c.id.desc())
        .limit(limit)
    )
    if tenant_id:
        query = query.where(reconcile_runs.c.tenant_id == tenant_id)
    return [dict(r._mapping) for r in conn.execute(query)]


def last_started(conn: Connection, tenant_id: str) -> datetime | None:
    return conn.execute(
        select(func.max(reconcile_runs.c.started_at)).where(
            reconcile_runs.c.tenant_id == tenant_id, reconcile_runs.c.dry_run.is_(False)
        )
    ).scalar()
