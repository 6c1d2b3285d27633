"""Group membership in the mirror: a set of rows, changed with set-based statements only.

A member id is resolved inside the tenant (a user or a group of it) before it is
stored, so another tenant's ids never get in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    bindparam,
    delete,
    select,
)

from reconciler.errors import InvalidValue
from storage.bulk import insert_rows
from storage.schema import mirror_group_members, mirror_groups, mirror_users
from storage.sql import chunked, one_of_param


def resolve_member_types(conn: Connection, tenant_id: str, ids: Iterable[str]) -> dict[str, str]:
    """Map each member id to "User" or "Group"; ids of nothing in this tenant are refused.

    Looking only inside the tenant is what keeps another tenant's ids out.
    """
    wanted = set(ids)
    found: dict[str, str] = {}
    # PostgreSQL takes the ids as one array parameter: large chunks, few round trips
    size = 5000 if conn.dialect.name == "postgresql" else 500
    for chunk in chunked(sorted(wanted), size):
        for kind, query in _ids_in_tenant(conn.dialect.name):
            rows = conn.execute(query, {"tenant_id": tenant_id, "ids": chunk})
            found.update({r.id: kind for r in rows})
    missing = wanted - found.keys()
    if missing:
        sample = ", ".join(sorted(missing)[:5])
        raise InvalidValue(f"unknown member id(s): {sample}")
    return found


@lru_cache(maxsize=2)
def _ids_in_tenant(dialect: str) -> tuple[tuple[str, Select[Any]], ...]:
    """Which `ids` are users, and which groups, of `tenant_id` (on PostgreSQL `= ANY`)."""
    queries = []
    for table, kind in ((mirror_users, "User"), (mirror_groups, "Group")):
        ids = one_of_param(dialect, table.c.id, "ids")
        query = select(table.c.id).where(table.c.tenant_id == bindparam("tenant_id"), ids)
        if dialect == "postgresql":
            # Held until the membership commits: a concurrent delete of the member waits,
            # then removes this membership with its others (storage/mirror.py delete_user)
            # instead of leaving the group listing an id that is no user. (SQLite runs
            # one writer at a time.)
            query = query.with_for_update(read=True, key_share=True)
        queries.append((kind, query))
    return tuple(queries)


def add_members(conn: Connection, tenant_id: str, group_id: str, ids: Iterable[str]) -> int:
    """Add these members to the group (those it has already are left); how many it gained."""
    return add_members_many(conn, tenant_id, {group_id: ids})[group_id]


def add_members_many(
    conn: Connection, tenant_id: str, wanted: Mapping[str, Iterable[str]]
) -> dict[str, int]:
    """`add_members` for many groups at once (an import's batch of new groups): the ids
    of all of them resolved together, the rows inserted in bulk; group id -> how many
    members it gained."""
    lists = {group_id: list(dict.fromkeys(ids)) for group_id, ids in wanted.items()}
    types = resolve_member_types(conn, tenant_id, (m for ids in lists.values() for m in ids))
    rows = [
        {"tenant_id": tenant_id, "group_id": g, "member_id": m, "member_type": types[m]}
        for g, ids in lists.items()
        for m in ids
    ]
    added = dict.fromkeys(lists, 0)
    # The group of each row really inserted (a duplicate returns nothing).
    for group_id in insert_rows(
        conn, mirror_group_members, rows, skip_conflicts=True, returning="group_id"
    ):
        added[group_id] += 1
    return added


def _members_of(tenant_id: Any, group_id: Any) -> ColumnElement[bool]:
    return and_(
        mirror_group_members.c.tenant_id == tenant_id,
        mirror_group_members.c.group_id == group_id,
    )


def remove_members(conn: Connection, tenant_id: str, group_id: str, ids: Iterable[str]) -> int:
    removed = 0
    for chunk in chunked(sorted(set(ids)), 1000):
        removed += (
            conn.execute(
                delete(mirror_group_members).where(
                    _members_of(tenant_id, group_id), mirror_group_members.c.member_id.in_(chunk)
                )
            ).rowcount
            or 0
        )
    return removed


def clear_members(conn: Connection, tenant_id: str, group_id: str) -> int:
    return (
        conn.execute(delete(mirror_group_members).where(_members_of(tenant_id, group_id))).rowcount
        or 0
    )


def replace_members(conn: Connection, tenant_id: str, group_id: str, ids: Iterable[str]) -> None:
    wanted = set(ids)
    current = set(member_ids(conn, tenant_id, group_id))
    remove_members(conn, tenant_id, group_id, current - wanted)
    if wanted - current:
        add_members(conn, tenant_id, group_id, wanted - current)


def member_ids(conn: Connection, tenant_id: str, group_id: str) -> list[str]:
    return list(
        conn.execute(
            select(mirror_group_members.c.member_id)
            .where(_members_of(tenant_id, group_id))
            .order_by(mirror_group_members.c.member_id)
        ).scalars()
    )


_MEMBERS_WITH_TYPES = (
    select(mirror_group_members.c.member_id, mirror_group_members.c.member_type)
    .where(_members_of(bindparam("tenant_id"), bindparam("group_id")))
    .order_by(mirror_group_members.c.member_id)
)


def members_with_types(conn: Connection, tenant_id: str, group_id: str) -> list[tuple[str, str]]:
    rows = conn.execute(_MEMBERS_WITH_TYPES, {"tenant_id": tenant_id, "group_id": group_id})
    return [(r.member_id, r.member_type) for r in rows]
