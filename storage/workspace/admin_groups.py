"""Native groups, admin memberships and folder permissions in SQL, for `SqlAdminStore`
(storage/workspace/admin_store.py). The rules (rule 7's locks, unique names) are the
services' (reconciler/admin.py). Never commits."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, Connection, delete, func, insert, select

from reconciler.admin_store import GroupView
from reconciler.model import Access, ActualGroup
from storage.clock import utcnow
from storage.schema import group_memberships, group_permissions, workspace_groups

_wg, _gm, _gp = workspace_groups, group_memberships, group_permissions


class AdminGroupSql:
    conn: Connection

    # --- reads ---------------------------------------------------------------------------

    def find_group(self, tenant_id: str, group_id: str) -> ActualGroup | None:
        row = self.conn.execute(
            select(_wg.c.id, _wg.c.name, _wg.c.scim_group_id).where(
                _wg.c.tenant_id == tenant_id, _wg.c.id == group_id
            )
        ).first()
        return ActualGroup(row.id, row.name, row.scim_group_id) if row is not None else None

    def list_groups(self, tenant_id: str, group_id: str | None = None) -> list[GroupView]:
        """Every group (or one), with its member count and permissions: three queries in all."""
        only = [_wg.c.id == group_id] if group_id else []
        rows = self.conn.execute(
            select(_wg.c.id, _wg.c.name, _wg.c.scim_group_id)
            .where(_wg.c.tenant_id == tenant_id, *only)
            .order_by(_wg.c.name_ci)
        ).all()
        only_gm = [_gm.c.group_id == group_id] if group_id else []
        counts: dict[str, int] = dict(
            self.conn.execute(
                select(_gm.c.group_id, func.count())
                .where(_gm.c.tenant_id == tenant_id, *only_gm)
                .group_by(_gm.c.group_id)
            )
            .tuples()
            .all()
        )
        only_gp = [_gp.c.group_id == group_id] if group_id else []
        permissions: dict[str, dict[str, Access]] = {}
        for gid, path, access in self.conn.execute(
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

    def group_names_taken(self, tenant_id: str, name: str, *, other_than: str = "") -> set[str]:
        return set(
            self.conn.execute(
                select(_wg.c.name_ci).where(
                    _wg.c.tenant_id == tenant_id,
                    _wg.c.name_ci == name.lower(),
                    _wg.c.id != other_than,
                )
            ).scalars()
        )

    # --- writes --------------------------------------------------------------------------

    def create_group(self, tenant_id: str, *, group_id: str, name: str) -> None:
        self.conn.execute(
            insert(_wg).values(
                tenant_id=tenant_id,
                id=group_id,
                name=name,
                name_ci=name.lower(),
                scim_group_id=None,
                created_at=utcnow(),
            )
        )

    def _membership(
        self, tenant_id: str, group_id: str, member_id: str
    ) -> list[ColumnElement[bool]]:
        gm = _gm.c
        return [gm.tenant_id == tenant_id, gm.group_id == group_id, gm.member_id == member_id]

    def add_group_member(self, tenant_id: str, group_id: str, member_id: str) -> bool:
        where = self._membership(tenant_id, group_id, member_id)
        if self.conn.execute(select(_gm.c.member_id).where(*where)).first() is not None:
            return False
        self.conn.execute(
            insert(_gm).values(
                tenant_id=tenant_id,
                group_id=group_id,
                member_id=member_id,
                source="native",
                created_at=utcnow(),
            )
        )
        return True

    def remove_group_member(self, tenant_id: str, group_id: str, member_id: str) -> bool:
        where = self._membership(tenant_id, group_id, member_id)
        return bool(self.conn.execute(delete(_gm).where(*where)).rowcount)

    def set_group_permissions(
        self, tenant_id: str, group_id: str, grants: Sequence[tuple[str, Access]]
    ) -> None:
        self.conn.execute(
            delete(_gp).where(_gp.c.tenant_id == tenant_id, _gp.c.group_id == group_id)
        )
        if grants:
            self.conn.execute(
                insert(_gp),
                [
                    {"tenant_id": tenant_id, "group_id": group_id, "path": p, "access": a.value}
                    for p, a in grants
                ],
            )
