"""Storage for the full reconcile: keys in order (both sides merged), run reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, func, select, union, update

from storage.schema import members, mirror_groups, mirror_users, reconcile_runs, workspace_groups
from storage.workspace_store import SqlWorkspaceStore


class SqlReconcileStore(SqlWorkspaceStore):
    """The workspace store, plus what a full run needs to stream a tenant in key order."""

    def keys_after(
        self, tenant_id: str, kind: Literal["User", "Group"], after: str | None, limit: int
    ) -> list[str]:
        """The next `limit` resource ids, from either side: the mirror's ids and the ids the
        workspace is linked to (an extra member or group has only the latter)."""
        if kind == "User":
            left, right = mirror_users.c.id, members.c.scim_user_id
            left_where = [mirror_users.c.tenant_id == tenant_id]
            right_where = [members.c.tenant_id == tenant_id, right.is_not(None)]
        else:
            left, right = mirror_groups.c.id, workspace_groups.c.scim_group_id
            left_where = [mirror_groups.c.tenant_id == tenant_id]
            right_where = [workspace_groups.c.tenant_id == tenant_id, right.is_not(None)]
        if after is not None:
            left_where.append(left > after)
            right_where.append(right > after)
        both = union(
            select(left.label("key")).where(*left_where),
            select(right.label("key")).where(*right_where),
        ).subquery()
        rows = self.conn.execute(select(both.c.key).order_by(both.c.key).limit(limit))
        return [r.key for r in rows]

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
