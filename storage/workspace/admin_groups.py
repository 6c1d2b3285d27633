"""The admin API's service functions for groups, memberships and folder permissions.

Native groups are the admin's; SCIM groups are the IdP's (rule 7): an admin may
not rename or delete them or change their members, but may set their
permissions like any group's. A SCIM-managed member may join a native group
(rule 6). Same conventions as storage/workspace/admin_members.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, delete, func, insert, select

from reconciler import rules
from reconciler.errors import NotFound
from reconciler.model import Access, ActualGroup, DeleteGroup, RenameGroup
from storage.clock import new_id, utcnow
from storage.schema import group_memberships, group_permissions, workspace_groups
from storage.workspace.admin_members import audit, get_member, load_policy
from storage.workspace.store import SqlWorkspaceStore

_wg, _gm, _gp = workspace_groups, group_memberships, group_permissions


@dataclass(frozen=True)
class GroupView:
    group: ActualGroup
    member_count: int
    permissions: dict[str, Access]


def get_group(conn: Connection, tenant_id: str, group_id: str) -> ActualGroup:
    row = conn.execute(
        select(_wg.c.id, _wg.c.name, _wg.c.scim_group_id).where(
            _wg.c.tenant_id == tenant_id, _wg.c.id == group_id
        )
    ).first()
    if row is None:
        raise NotFound(f"group {group_id} not found")
    return ActualGroup(row.id, row.name, row.scim_group_id)


def list_groups(conn: Connection, tenant_id: str, group_id: str | None = None) -> list[GroupView]:
    """Every group (or one), with its member count and permissions: three queries in all."""
    only = [_wg.c.id == group_id] if group_id else []
    rows = conn.execute(
        select(_wg.c.id, _wg.c.name, _wg.c.scim_group_id)
        .where(_wg.c.tenant_id == tenant_id, *only)
        .order_by(_wg.c.name_ci)
    ).all()
    only_gm = [_gm.c.group_id == group_id] if group_id else []
    counts: dict[str, int] = dict(
        conn.execute(
            select(_gm.c.group_id, func.count())
            .where(_gm.c.tenant_id == tenant_id, *only_gm)
            .group_by(_gm.c.group_id)
        )
        .tuples()
        .all()
    )
    only_gp = [_gp.c.group_id == group_id] if group_id else []
    permissions: dict[str, dict[str, Access]] = {}
    for gid, path, access in conn.execute(
        select(_gp.c.group_id, _gp.c.path, _gp.c.access)
        .where(_gp.c.tenant_id == tenant_id, *only_gp)
        .order_by(_gp.c.path)
    ).tuples():
        permissions.setdefault(gid, {})[path] = Access(access)
    return [
        GroupView(
            ActualGroup(r.id, r.name, r.scim_group_id),
            int(counts.get(r.id, 0)),
            permissions.get(r.id, {}),
        )
        for r in rows
    ]


def _group_view(conn: Connection, tenant_id: str, group_id: str) -> GroupView:
    return list_groups(conn, tenant_id, group_id)[0]


def _names_taken(conn: Connection, tenant_id: str, name: str, *, other_than: str = "") -> set[str]:
    """Lower-cased names of groups other than `other_than` that `name` would clash with."""
    return set(
        conn.execute(
            select(_wg.c.name_ci).where(
                _wg.c.tenant_id == tenant_id, _wg.c.name_ci == name.lower(), _wg.c.id != other_than
            )
        ).scalars()
    )


def create_group(conn: Connection, tenant_id: str, *, name: str, actor: str) -> GroupView:
    """A native group: the admin's to rename, delete and fill."""
    load_policy(conn, tenant_id)
    rules.check_group_name_free(name, _names_taken(conn, tenant_id, name))
    group_id = new_id()
    conn.execute(
        insert(_wg).values(
            tenant_id=tenant_id,
            id=group_id,
            name=name,
            name_ci=name.lower(),
            scim_group_id=None,
            created_at=utcnow(),
        )
    )
    audit(conn, tenant_id, actor, "create_group", f"group:{group_id}", name=name)
    return _group_view(conn, tenant_id, group_id)


def rename_group(
    conn: Connection, tenant_id: str, group_id: str, *, name: str, actor: str
) -> GroupView:
    load_policy(conn, tenant_id)
    group = get_group(conn, tenant_id, group_id)
    rules.check_admin_rename_group(group)
    rules.check_group_name_free(name, _names_taken(conn, tenant_id, name, other_than=group_id))
    SqlWorkspaceStore(conn).apply(tenant_id, [RenameGroup(group.id, name)], actor)
    return _group_view(conn, tenant_id, group_id)


def delete_group(conn: Connection, tenant_id: str, group_id: str, *, actor: str) -> None:
    """The group goes with its memberships and permissions."""
    load_policy(conn, tenant_id)
    group = get_group(conn, tenant_id, group_id)
    rules.check_admin_delete_group(group)
    SqlWorkspaceStore(conn).apply(tenant_id, [DeleteGroup(group.id, group.name)], actor)


def add_group_member(
    conn: Connection, tenant_id: str, group_id: str, member_id: str, *, actor: str
) -> None:
    """Idempotent: adding a member already in the group changes nothing."""
    load_policy(conn, tenant_id)
    group = get_group(conn, tenant_id, group_id)
    get_member(conn, tenant_id, member_id)
    rules.check_admin_change_group_members(group)
    present = conn.execute(
        select(_gm.c.member_id).where(
            _gm.c.tenant_id == tenant_id, _gm.c.group_id == group_id, _gm.c.member_id == member_id
        )
    ).first()
    if present is None:
        conn.execute(
            insert(_gm).values(
                tenant_id=tenant_id,
                group_id=group_id,
                member_id=member_id,
                source="native",
                created_at=utcnow(),
            )
        )
        audit(conn, tenant_id, actor, "add_group_member", f"group:{group_id}", member_id=member_id)


def remove_group_member(
    conn: Connection, tenant_id: str, group_id: str, member_id: str, *, actor: str
) -> None:
    load_policy(conn, tenant_id)
    group = get_group(conn, tenant_id, group_id)
    get_member(conn, tenant_id, member_id)
    rules.check_admin_change_group_members(group)
    removed = conn.execute(
        delete(_gm).where(
            _gm.c.tenant_id == tenant_id, _gm.c.group_id == group_id, _gm.c.member_id == member_id
        )
    )
    if removed.rowcount == 0:
        raise NotFound(f"member {member_id} is not in group {group_id}")
    audit(conn, tenant_id, actor, "remove_group_member", f"group:{group_id}", member_id=member_id)


def set_group_permissions(
    conn: Connection,
    tenant_id: str,
    group_id: str,
    grants: Sequence[tuple[str, Access]],
    *,
    actor: str,
) -> GroupView:
    """Replaces the group's permissions; allowed on SCIM groups too (rule 7)."""
    load_policy(conn, tenant_id)
    get_group(conn, tenant_id, group_id)
    conn.execute(delete(_gp).where(_gp.c.tenant_id == tenant_id, _gp.c.group_id == group_id))
    if grants:
        conn.execute(
            insert(_gp),
            [
                {"tenant_id": tenant_id, "group_id": group_id, "path": path, "access": access.value}
                for path, access in grants
            ],
        )
    audit(
        conn,
        tenant_id,
        actor,
        "set_group_permissions",
        f"group:{group_id}",
        permissions=[{"path": path, "access": access.value} for path, access in grants],
    )
    return _group_view(conn, tenant_id, group_id)
