"""The mirror: the IdP's view of its users and groups, versioned per resource.

GETs are served from here; the worker reads it as the desired state. Group
membership is storage/mirror_members.py's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    Table,
    and_,
    bindparam,
    delete,
    func,
    select,
    update,
)

from reconciler.ids import new_id
from storage.bulk import insert_rows
from storage.mirror_members import clear_members
from storage.projection import group_columns, user_columns, user_value_rows
from storage.schema import mirror_group_members, mirror_groups, mirror_user_values, mirror_users
from storage.unique_values import UniqueValues


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


@dataclass(frozen=True)
class _MirrorTable:
    """The table one kind of resource is mirrored in, and what users and groups do alike there.

    The reads serve both kinds as they are (`get_user` is `_USERS.get`); the user and
    group writes below wrap the shared row statements in what differs between them
    (user values, memberships; unique values are storage/unique_values.py's).
    """

    table: Table

    def _row_is(self, tenant_id: str, resource_id: str) -> ColumnElement[bool]:
        return and_(self.table.c.tenant_id == tenant_id, self.table.c.id == resource_id)

    @cached_property
    def _update_by_key(self) -> Any:
        """UPDATE of one row (`key_tenant_id`, `key_id`); the SET list is the other params."""
        return update(self.table).where(
            self.table.c.tenant_id == bindparam("key_tenant_id"),
            self.table.c.id == bindparam("key_id"),
        )

    @cached_property
    def _by_key(self) -> tuple[Select[Any], Select[Any]]:
        """Reading one row, then reading and locking it: built once, as every write does it."""
        query = select(self.table).where(
            self.table.c.tenant_id == bindparam("tenant_id"), self.table.c.id == bindparam("id")
        )
        return query, query.with_for_update()

    def get(
        self, conn: Connection, tenant_id: str, resource_id: str, *, lock: bool = False
    ) -> MirrorResource | None:
        # SQLite has no row locks: its writer lock already serialises the writes.
        query = self._by_key[lock and conn.dialect.name == "postgresql"]
        row = conn.execute(query, {"tenant_id": tenant_id, "id": resource_id}).first()
        return _as_resource(row) if row else None

    def page(
        self,
        conn: Connection,
        tenant_id: str,
        *,
        where: ColumnElement[bool] | None,
        order_by: Sequence[Any] = (),
        offset: int = 0,
        limit: int = 100,
    ) -> tuple[int, list[MirrorResource]]:
        """How many of the tenant's resources match `where`, and one page of them.

        Oldest first unless `order_by` says otherwise; the id breaks ties, so that
        consecutive pages neither repeat nor skip a resource.
        """
        table = self.table
        conditions = [table.c.tenant_id == tenant_id]
        if where is not None:
            conditions.append(where)
        total = conn.execute(
            select(func.count()).select_from(table).where(*conditions)
        ).scalar_one()
        if limit <= 0:
            return int(total), []
        order = [*(order_by or (table.c.created_at,)), table.c.id]
        rows = conn.execute(
            select(table).where(*conditions).order_by(*order).offset(offset).limit(limit)
        )
        return int(total), [_as_resource(r) for r in rows]

    @staticmethod
    def new_row(
        tenant_id: str,
        resource: dict[str, Any],
        columns: dict[str, Any],
        now: datetime,
        resource_id: str | None = None,
    ) -> dict[str, Any]:
        """The columns of a new resource at version 1, under a new id (or `resource_id`:
        the id a reconcile's plan gave it)."""
        row = {"tenant_id": tenant_id, "id": resource_id or new_id(), "version": 1}
        row["resource"] = resource
        return row | {"created_at": now, "updated_at": now} | columns

    def update_row(
        self,
        conn: Connection,
        tenant_id: str,
        current: MirrorResource,
        resource: dict[str, Any],
        columns: dict[str, Any],
        now: datetime,
    ) -> int:
        """Store `resource` as the version after `current`; returns that version."""
        version = current.version + 1
        conn.execute(
            self._update_by_key,
            {"key_tenant_id": tenant_id, "key_id": current.id, "version": version}
            | {"updated_at": now, "resource": resource}
            | columns,
        )
        return version

    def delete_row(self, conn: Connection, tenant_id: str, resource_id: str) -> None:
        conn.execute(delete(self.table).where(self._row_is(tenant_id, resource_id)))


_USERS = _MirrorTable(mirror_users)
_GROUPS = _MirrorTable(mirror_groups)
# What no two resources of one tenant may share: an IdP's retried create meets 409.
_USER_KEYS = UniqueValues(
    mirror_users, (("user_name_ci", "userName"), ("external_id", "externalId"))
)
_GROUP_KEYS = UniqueValues(
    mirror_groups, (("display_name_ci", "displayName"), ("external_id", "externalId"))
)


get_user = _USERS.get
list_users = _USERS.page


def _delete_user_values(conn: Connection, tenant_id: str, user_id: str) -> None:
    conn.execute(
        delete(mirror_user_values).where(
            mirror_user_values.c.tenant_id == tenant_id, mirror_user_values.c.user_id == user_id
        )
    )


def _write_user_values(
    conn: Connection, tenant_id: str, user_id: str, resource: dict[str, Any]
) -> None:
    rows = user_value_rows(tenant_id, user_id, resource)
    insert_rows(conn, mirror_user_values, rows)


def insert_user(
    conn: Connection, tenant_id: str, resource: dict[str, Any], *, has_password: bool, now: datetime
) -> MirrorResource:
    columns = user_columns(resource) | {"has_password": has_password}
    row = _USERS.new_row(tenant_id, resource, columns, now)
    _USER_KEYS.insert(conn, row)
    user_id = str(row["id"])
    _write_user_values(conn, tenant_id, user_id, resource)
    return MirrorResource(user_id, 1, now, now, resource, has_password)


def insert_users(
    conn: Connection,
    tenant_id: str,
    users: Sequence[tuple[dict[str, Any], bool]],
    *,
    now: datetime,
    ids: Sequence[str | None] | None = None,
) -> list[MirrorResource]:
    """`insert_user` for many `(resource, has_password)` at once: a few multi-row
    statements instead of two per user (an import's batch); `ids`: theirs, where given."""
    given = ids or [None] * len(users)
    rows = [
        _USERS.new_row(tenant_id, resource, user_columns(resource) | {"has_password": pw}, now, i)
        for (resource, pw), i in zip(users, given, strict=True)
    ]
    _USER_KEYS.insert_many(conn, rows)
    values = [
        value
        for row, (resource, _) in zip(rows, users, strict=True)
        for value in user_value_rows(tenant_id, str(row["id"]), resource)
    ]
    insert_rows(conn, mirror_user_values, values)
    return [
        MirrorResource(str(row["id"]), 1, now, now, resource, pw)
        for row, (resource, pw) in zip(rows, users, strict=True)
    ]


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
    with _USER_KEYS.kept_on_update(conn, tenant_id, current.id, columns):
        version = _USERS.update_row(conn, tenant_id, current, resource, columns, now)
    _delete_user_values(conn, tenant_id, current.id)
    _write_user_values(conn, tenant_id, current.id, resource)
    return MirrorResource(current.id, version, current.created_at, now, resource, has_password)


def delete_user(conn: Connection, tenant_id: str, user_id: str) -> list[str]:
    """Delete a user and its memberships; returns the groups it belonged to.

    The row first: a group write adding this user holds it (storage/mirror_members.py),
    so the delete waits for that write to commit, and the statements after it, each with
    a fresh snapshot (READ COMMITTED), see and remove the membership it added."""
    _USERS.delete_row(conn, tenant_id, user_id)  # its values go with it (ON DELETE CASCADE)
    is_its_membership = and_(
        mirror_group_members.c.tenant_id == tenant_id,
        mirror_group_members.c.member_id == user_id,
    )
    group_ids = list(
        conn.execute(select(mirror_group_members.c.group_id).where(is_its_membership)).scalars()
    )
    conn.execute(delete(mirror_group_members).where(is_its_membership))
    return group_ids


# --- groups ------------------------------------------------------------------

get_group = _GROUPS.get
list_groups = _GROUPS.page


def insert_group(
    conn: Connection, tenant_id: str, resource: dict[str, Any], *, now: datetime
) -> MirrorResource:
    row = _GROUPS.new_row(tenant_id, resource, group_columns(resource), now)
    _GROUP_KEYS.insert(conn, row)
    return MirrorResource(str(row["id"]), 1, now, now, resource)


def insert_groups(
    conn: Connection,
    tenant_id: str,
    resources: Sequence[dict[str, Any]],
    *,
    now: datetime,
    ids: Sequence[str | None] | None = None,
) -> list[MirrorResource]:
    """`insert_group` for many at once, in one multi-row statement (an import's batch)."""
    given = ids or [None] * len(resources)
    rows = [
        _GROUPS.new_row(tenant_id, r, group_columns(r), now, i)
        for r, i in zip(resources, given, strict=True)
    ]
    _GROUP_KEYS.insert_many(conn, rows)
    return [
        MirrorResource(str(row["id"]), 1, now, now, r)
        for row, r in zip(rows, resources, strict=True)
    ]


def update_group(
    conn: Connection,
    tenant_id: str,
    current: MirrorResource,
    resource: dict[str, Any],
    *,
    now: datetime,
) -> MirrorResource:
    columns = group_columns(resource)
    with _GROUP_KEYS.kept_on_update(conn, tenant_id, current.id, columns):
        version = _GROUPS.update_row(conn, tenant_id, current, resource, columns, now)
    return MirrorResource(current.id, version, current.created_at, now, resource)


def delete_group(conn: Connection, tenant_id: str, group_id: str) -> None:
    clear_members(conn, tenant_id, group_id)
    _GROUPS.delete_row(conn, tenant_id, group_id)
