"""Members, invitations and the audit log in SQL, for `SqlAdminStore`
(storage/workspace/admin_store.py). No rules and no audit decisions here: those are the
services' (reconciler/admin.py). Never commits."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from reconciler.admin_store import AuditRecord, GroupLink
from reconciler.ids import new_id
from reconciler.model import Access, ActualMember, MemberStatus
from reconciler.rules import StatusPair
from storage import audit
from storage.clock import as_utc, utcnow
from storage.schema import (
    audit_log,
    group_memberships,
    group_permissions,
    invitations,
    members,
    workspace_groups,
)
from storage.workspace import reads
from storage.workspace.rows import status_value

_m, _wg, _gm, _gp = members, workspace_groups, group_memberships, group_permissions


class AdminMemberSql:
    conn: Connection

    # --- reads ---------------------------------------------------------------------------

    def find_member(
        self, tenant_id: str, *, member_id: str | None = None, email: str | None = None
    ) -> ActualMember | None:
        return reads.find_member(self.conn, tenant_id, member_id=member_id, email=email)

    def list_members(
        self,
        tenant_id: str,
        status: MemberStatus | None,
        *,
        after: str | None = None,
        limit: int | None = None,
    ) -> list[ActualMember]:
        return reads.list_members(self.conn, tenant_id, status, after=after, limit=limit)

    def member_counts(self, tenant_id: str) -> dict[MemberStatus, int]:
        rows = self.conn.execute(
            select(_m.c.status, func.count())
            .where(_m.c.tenant_id == tenant_id)
            .group_by(_m.c.status)
        ).tuples()
        return {MemberStatus(status): int(n) for status, n in rows}

    def member_groups(self, tenant_id: str, member_id: str) -> list[GroupLink]:
        in_group = (_gm.c.tenant_id == _wg.c.tenant_id) & (_gm.c.group_id == _wg.c.id)
        rows = self.conn.execute(
            select(_wg.c.id, _wg.c.name, _wg.c.scim_group_id, _gm.c.source)
            .join(_gm, in_group)
            .where(_gm.c.tenant_id == tenant_id, _gm.c.member_id == member_id)
            .order_by(_wg.c.name_ci)
        )
        return [GroupLink(g.id, g.name, g.scim_group_id is not None, g.source) for g in rows]

    def member_grants(self, tenant_id: str, member_id: str) -> list[tuple[str, Access]]:
        of_group = (_gm.c.tenant_id == _gp.c.tenant_id) & (_gm.c.group_id == _gp.c.group_id)
        rows = self.conn.execute(
            select(_gp.c.path, _gp.c.access)
            .join(_gm, of_group)
            .where(_gm.c.tenant_id == tenant_id, _gm.c.member_id == member_id)
        ).tuples()
        return [(path, Access(access)) for path, access in rows]

    def audit_entries(self, tenant_id: str, *, limit: int) -> list[AuditRecord]:
        rows = self.conn.execute(
            select(audit_log)
            .where(audit_log.c.tenant_id == tenant_id)
            .order_by(audit_log.c.id.desc())
            .limit(limit)
        )
        return [
            AuditRecord(r.id, r.actor, r.action, r.target, dict(r.detail or {}), as_utc(r.at))
            for r in rows
        ]

    # --- writes --------------------------------------------------------------------------

    def insert_member(self, tenant_id: str, member: ActualMember) -> None:
        now = utcnow()
        self.conn.execute(
            insert(_m).values(
                tenant_id=tenant_id,
                id=member.id,
                email=member.email,
                email_ci=member.email_ci,
                display_name=member.display_name,
                status=member.status.value,
                status_before_deactivation=status_value(member.status_before_deactivation),
                role=member.role.value,
                has_password=member.has_password,
                created_at=now,
                updated_at=now,
            )
        )

    def open_invitation(self, tenant_id: str, member_id: str, email: str) -> None:
        self.conn.execute(
            insert(invitations).values(
                tenant_id=tenant_id,
                id=new_id(),
                member_id=member_id,
                email=email,
                created_at=utcnow(),
            )
        )

    def accept_invitation(self, tenant_id: str, member_id: str, status: StatusPair) -> None:
        now = utcnow()
        self.conn.execute(
            update(_m)
            .where(_m.c.tenant_id == tenant_id, _m.c.id == member_id)
            .values(
                status=status[0].value,
                status_before_deactivation=status_value(status[1]),
                has_password=True,
                updated_at=now,
            )
        )
        self.conn.execute(
            update(invitations)
            .where(
                invitations.c.tenant_id == tenant_id,
                invitations.c.member_id == member_id,
                invitations.c.accepted_at.is_(None),
            )
            .values(accepted_at=now)
        )

    def audit(
        self,
        tenant_id: str,
        *,
        actor: str,
        action: str,
        target: str,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        entry = audit.AuditEntry(tenant_id, actor, action, target, dict(detail or {}))
        audit.record(self.conn, [entry])
