"""The mirror: the IdP's view of its users and groups, versioned per resource.

GETs are served from here; the worker reads it as the desired state. Group
membership is a set of rows, changed with set-based statements only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from events.errors import InvalidValue, Uniqueness
from storage.clock import new_id
from storage.projection import group_columns, user_columns, user_value_rows
from storage.schema import mirror_group_members, mirror_groups, mirror_user_values, mirror_users
from storage.sql import chunked, for_update, insert_ignoring_duplicates


@dataclass(frozen=True)
class MirrorResource:
    id: str
    version: int
    created_at: datetime
    updated_at: datetime
    resource: dict[str, Any]
    has_password: bool = False  # users only: the IdP once set a password (never stored)


def _as_resource(row: Any) -> MirrorResource:
    return MirrorResource(
        row.id,
        row.version,
        row.created_at,
        row.updated_at,
        dict(row.resource),
        bool(getattr(row, "has_password", False)),
    )


# --- users -------------------------------------------------------------------


def _write_user_values(
    conn: Connection, tenant_id: str, user_id: str, resource: dict[str, Any]
) -> None:
    rows = user_value_rows(tenant_id, user_id, resource)
    if rows:
        conn.execute(mirror_user_values.insert(), rows)


def insert_user(
    conn: Connection, tenant_id: str, resource: dict[str, Any], *, has_password: bool, now: datetime
) -> MirrorResource:
    user_id = new_id()
    columns = user_columns(resource) | {"has_password": has_password}
    try:
        with conn.begin_nested():
            conn.execute(
                mirror_users.insert().values(
                    tenant_id=tenant_id,
                    id=user_id,
                    version=1,
                    created_at=now,
                    updated_at=now,
                    resource=resource,
                    **columns,
                )
            )
    except IntegrityError as exc:
        raise Uniqueness(f"userName {resource.get('userName')!r} is already taken") from exc
    _write_user_values(conn, tenant_id, user_id, resource)
    return MirrorResource(user_id, 1, now, now, resource, has_password)


def get_user(
    conn: Connection, tenant_id: str, user_id: str, *, lock: bool = False
) -> MirrorResource | None:
    query = select(mirror_users).where(
        mirror_users.c.tenant_id == tenant_id, mirror_users.c.id == user_id
    )
    row = conn.execute(for_update(conn, query) if lock else query).first()
    return _as_resource(row) if row else None


def replace_user(
    conn: Connection,
    tenant_id: str,
    current: MirrorResource,
    resource: dict[str, Any],
    *,
    has_password: bool,
    now: datetime,
) -> MirrorResource:
    columns = user_columns(resource) | {"has_password": has_password}
    version = current.version + 1
    try:
        with conn.begin_nested():
            conn.execute(
                update(mirror_users)
                .where(mirror_users.c.tenant_id == tenant_id, mirror_users.c.id == current.id)
                .values(version=version, updated_at=now, resource=resource, **columns)
            )
    except IntegrityError as exc:
        raise Uniqueness(f"userName {resource.get('userName')!r} is already taken") from exc
    conn.execute(
        delete(mirror_user_values).where(
            mirror_user_values.c.tenant_id == tenant_id, mirror_user_values.c.user_id == current.id
        )
    )
    _write_user_values(conn, tenant_id, current.id, resource)
    return MirrorResource(current.id, version, current.created_at, now, resource, has_password)


def delete_user(conn: Connection, tenant_id: str, user_id: str) -> list[str]:
    """Delete a user and its memberships; returns the groups it belonged to."""
    group_ids = [
        r.group_id
        for r in conn.execute(
            select(mirror_group_members.c.group_id).where(
                mirror_group_members.c.tenant_id == tenant_id,
                mirror_group_members.c.member_id == user_id,
            )
        )
    ]
    conn.execute(
        delete(mirror_group_members).where(
            mirror_group_members.c.tenant_id == tenant_id,
            mirror_group_members.c.member_id == user_id,
        )
    )
    conn.execute(
        delete(mirror_user_values).where(
            mirror_user_values.c.tenant_id == tenant_id, mirror_user_values.c.user_id == user_id
        )
    )
    conn.execute(
        delete(mirror_users).where(
            mirror_users.c.tenant_id == tenant_id, mirror_users.c.id == user_id
        )
    )
    return group_ids


def _page(
    conn: Connection,
    table: Any,
    tenant_id: str,
    where: ColumnElement[bool] | None,
    order_by: Sequence[Any],
    offset: int,
    limit: int,
) -> tuple[int, list[MirrorResource]]:
    conditions = [table.c.tenant_id == tenant_id]
    if where is not None:
        conditions.append(where)
    total = conn.execute(select(func.count()).select_from(table).where(*conditions)).scalar_one()
    if limit <= 0:
        return int(total), []
    rows = conn.execute(
        select(table).where(*conditions).order_by(*order_by, table.c.id).offset(offset).limit(limit)
    )
    return int(total), [_as_resource(r) for r in rows]


def list_users(
    conn: Connection,
    tenant_id: str,
    *,
    where: ColumnElement[bool] | None,
    order_by: Sequence[Any] = (),
    offset: int = 0,
    limit: int = 100,
) -> tuple[int, list[MirrorResource]]:
    return _page(
        conn,
        mirror_users,
        tenant_id,
        where,
        order_by or (mirror_users.c.created_at,),
        offset,
        limit,
    )


# --- groups ------------------------------------------------------------------


def insert_group(
    conn: Connection, tenant_id: str, resource: dict[str, Any], *, now: datetime
) -> MirrorResource:
    group_id = new_id()
    conn.execute(
        mirror_groups.insert().values(
            tenant_id=tenant_id,
            id=group_id,
            version=1,
            created_at=now,
            updated_at=now,
            resource=resource,
            **group_columns(resource),
        )
    )
    return MirrorResource(group_id, 1, now, now, resource)


def get_group(
    conn: Connection, tenant_id: str, group_id: str, *, lock: bool = False
) -> MirrorResource | None:
    query = select(mirror_groups).where(
        mirror_groups.c.tenant_id == tenant_id, mirror_groups.c.id == group_id
    )
    row = conn.execute(for_update(conn, query) if lock else query).first()
    return _as_resource(row) if row else None


def update_group(
    conn: Connection,
    tenant_id: str,
    current: MirrorResource,
    resource: dict[str, Any],
    *,
    now: datetime,
) -> MirrorResource:
    version = current.version + 1
    conn.execute(
        update(mirror_groups)
        .where(mirror_groups.c.tenant_id == tenant_id, mirror_groups.c.id == current.id)
        .values(version=version, updated_at=now, resource=resource, **group_columns(resource))
    )
    return MirrorResource(current.id, version, current.created_at, now, resource)


def delete_group(conn: Connection, tenant_id: str, group_id: str) -> None:
    conn.execute(
        delete(mirror_group_members).where(
            mirror_group_members.c.tenant_id == tenant_id,
            mirror_group_members.c.group_id == group_id,
        )
    )
    conn.execute(
        delete(mirror_groups).where(
            mirror_groups.c.tenant_id == tenant_id, mirror_groups.c.id == group_id
        )
    )


def list_groups(
    conn: Connection,
    tenant_id: str,
    *,
    where: ColumnElement[bool] | None,
    order_by: Sequence[Any] = (),
    offset: int = 0,
    limit: int = 100,
) -> tuple[int, list[MirrorResource]]:
    return _page(
        conn,
        mirror_groups,
        tenant_id,
        where,
        order_by or (mirror_groups.c.created_at,),
        offset,
        limit,
    )


def resolve_member_types(conn: Connection, tenant_id: str, ids: Iterable[str]) -> dict[str, str]:
    """Map each member id to "User" or "Group"; ids of nothing in this tenant are refused.

    Looking only inside the tenant is what keeps another tenant's ids out.
    """
    wanted = set(ids)
    found: dict[str, str] = {}
    for chunk in chunked(sorted(wanted), 500):
        for table, kind in ((mirror_users, "User"), (mirror_groups, "Group")):
            rows = conn.execute(
                select(table.c.id).where(table.c.tenant_id == tenant_id, table.c.id.in_(chunk))
            )
            found.update({r.id: kind for r in rows})
    missing = wanted - found.keys()
    if missing:
        sample = ", ".join(sorted(missing)[:5])
        raise InvalidValue(f"unknown member id(s): {sample}")
    return found


def add_members(conn: Connection, tenant_id: str, group_id: str, ids: Iterable[str]) -> int:
    types = resolve_member_types(conn, tenant_id, ids)
    rows = [
        {"tenant_id": tenant_id, "group_id": group_id, "member_id": m, "member_type": t}
        for m, t in types.items()
    ]
    added = 0
    for chunk in chunked(rows, 1000):
        added += insert_ignoring_duplicates(conn, mirror_group_members, chunk)
    return added


def remove_members(conn: Connection, tenant_id: str, group_id: str, ids: Iterable[str]) -> int:
    removed = 0
    for chunk in chunked(sorted(set(ids)), 1000):
        removed += (
            conn.execute(
                delete(mirror_group_members).where(
                    mirror_group_members.c.tenant_id == tenant_id,
                    mirror_group_members.c.group_id == group_id,
                    mirror_group_members.c.member_id.in_(chunk),
                )
            ).rowcount
            or 0
        )
    return removed


def clear_members(conn: Connection, tenant_id: str, group_id: str) -> int:
    return (
        conn.execute(
            delete(mirror_group_members).where(
                mirror_group_members.c.tenant_id == tenant_id,
                mirror_group_members.c.group_id == group_id,
            )
        ).rowcount
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
            .where(
                mirror_group_members.c.tenant_id == tenant_id,
                mirror_group_members.c.group_id == group_id,
            )
            .order_by(mirror_group_members.c.member_id)
        ).scalars()
    )


def members_with_types(conn: Connection, tenant_id: str, group_id: str) -> list[tuple[str, str]]:
    rows = conn.execute(
        select(mirror_group_members.c.member_id, mirror_group_members.c.member_type)
        .where(
            mirror_group_members.c.tenant_id == tenant_id,
            mirror_group_members.c.group_id == group_id,
        )
        .order_by(mirror_group_members.c.member_id)
    )
    return [(r.member_id, r.member_type) for r in rows]
