"""What a reconcile from an outside source (a file, a SCIM directory) knows about that
source, per tenant: each userName / displayName seen, the source's id and ours, a
fingerprint of the source's body and the mirror version it matched, and the run that
last saw it.

The deletions of a run are an anti-join (mirror rows its run did not see), group members
translate from the source's ids to ours in SQL, and a resource whose body and mirror
version are both unchanged since the last run is not parsed again: the source is never
held in memory, and a no-drift pass costs a read of the source and a few indexed
queries per batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, or_, select, update

from storage.bulk import insert_rows
from storage.schema import mirror_groups, mirror_users
from storage.schema import reconcile_source_keys as keys_table
from storage.sql import one_of

T = keys_table


@dataclass(frozen=True)
class Staged:
    source_id: str
    our_id: str | None
    digest: str | None  # set only when the body matched the mirror at `mirror_version`
    mirror_version: int | None
    seen_run: int


def _mirror(kind: str) -> tuple[Any, Any, Any]:
    if kind == "User":
        return mirror_users, mirror_users.c.user_name_ci, mirror_users.c.user_name
    return mirror_groups, mirror_groups.c.display_name_ci, mirror_groups.c.display_name


def current(
    conn: Connection, tenant_id: str, kind: str, keys: Sequence[str]
) -> dict[str, tuple[str, dict[str, Any], int]]:
    """key -> (our id, stored resource, version) of the mirror rows of these keys."""
    table, key, _ = _mirror(kind)
    rows = conn.execute(
        select(key, table.c.id, table.c.resource, table.c.version).where(
            table.c.tenant_id == tenant_id, key.in_(list(keys))
        )
    )
    return {k: (i, r, v) for k, i, r, v in rows.tuples().all()}


def staged(conn: Connection, tenant_id: str, kind: str, keys: Sequence[str]) -> dict[str, Staged]:
    rows = conn.execute(
        select(
            T.c.key_ci, T.c.source_id, T.c.our_id, T.c.digest, T.c.mirror_version, T.c.seen_run
        ).where(T.c.tenant_id == tenant_id, T.c.resource_type == kind, T.c.key_ci.in_(list(keys)))
    )
    return {k: Staged(*rest) for k, *rest in rows.tuples().all()}


def mark_seen(conn: Connection, tenant_id: str, kind: str, run_id: int, keys: list[str]) -> None:
    if keys:
        conn.execute(
            update(T)
            .where(T.c.tenant_id == tenant_id, T.c.resource_type == kind, T.c.key_ci.in_(keys))
            .values(seen_run=run_id)
        )


def record(
    conn: Connection, tenant_id: str, kind: str, run_id: int, rows: list[dict[str, Any]]
) -> None:
    """Upsert rows of `key_ci, source_id, our_id, digest, mirror_version` as seen now."""
    if not rows:
        return
    rows = list({r["key_ci"]: r for r in rows}.values())  # one row per key: the last wins
    known = set(staged(conn, tenant_id, kind, [r["key_ci"] for r in rows]))
    fresh = [
        {**r, "tenant_id": tenant_id, "resource_type": kind, "seen_run": run_id}
        for r in rows
        if r["key_ci"] not in known
    ]
    insert_rows(conn, T, fresh)
    old = [{**r, "k": r["key_ci"], "run": run_id} for r in rows if r["key_ci"] in known]
    if old:
        conn.execute(
            update(T)
            .where(
                T.c.tenant_id == tenant_id,
                T.c.resource_type == kind,
                T.c.key_ci == bindparam("k"),
            )
            .values(
                source_id=bindparam("source_id"),
                our_id=bindparam("our_id"),
                digest=bindparam("digest"),
                mirror_version=bindparam("mirror_version"),
                seen_run=bindparam("run"),
            ),
            old,
        )


def translate(
    conn: Connection, tenant_id: str, source_ids: set[str], run_id: int
) -> dict[str, str | None]:
    """Source user ids -> ours (None: not in the mirror yet); an unknown id is taken as ours.
    A user new to the mirror has the id this run planned for it; one planned by an earlier
    run only and not in its source now has none."""
    found: dict[str, str | None] = {}
    ids = list(source_ids)
    for start in range(0, len(ids), 1000):
        rows = conn.execute(
            select(T.c.source_id, T.c.our_id, T.c.mirror_version, T.c.seen_run).where(
                T.c.tenant_id == tenant_id,
                T.c.resource_type == "User",
                one_of(conn, T.c.source_id, ids[start : start + 1000]),
            )
        )
        for source_id, our_id, version, seen in rows.tuples():
            found[source_id] = our_id if version is not None or seen == run_id else None
    return {i: found.get(i, i) for i in ids}


def gone(
    conn: Connection, tenant_id: str, kind: str, run_id: int, after: str | None, limit: int
) -> list[tuple[str, str]]:
    """The next mirror resources (id, name) the run did not see in the source, by id."""
    table, key, name = _mirror(kind)
    seen = and_(T.c.tenant_id == table.c.tenant_id, T.c.resource_type == kind, T.c.key_ci == key)
    query = (
        select(table.c.id, name)
        .select_from(table.outerjoin(T, seen))
        .where(table.c.tenant_id == tenant_id, or_(T.c.seen_run.is_(None), T.c.seen_run != run_id))
    )
    if after is not None:
        query = query.where(table.c.id > after)
    return list(conn.execute(query.order_by(table.c.id).limit(limit)).tuples().all())


def forget(conn: Connection, tenant_id: str, kind: str, key: str) -> None:
    conn.execute(
        delete(T).where(T.c.tenant_id == tenant_id, T.c.resource_type == kind, T.c.key_ci == key)
    )
