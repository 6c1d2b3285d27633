"""Workspaces as the operator lists and changes them, for `SqlAdminStore`
(storage/workspace/admin_store.py): summaries with member and group counts, which
workspace holds an SSO domain, the IdP kind and options. Never commits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, func, select

from reconciler.admin_store import WorkspaceSummary
from reconciler.model import MemberStatus
from storage import tenants
from storage.schema import members, workspace_groups
from storage.schema import tenants as tenants_table

# One advisory lock for every SSO-domain claim on PostgreSQL (an arbitrary constant:
# "SSO" in ASCII). SQLite has one writer at a time already.
_SSO_DOMAINS_LOCK = 0x53534F


class AdminTenantSql:
    conn: Connection
    lock_tenant: bool  # a write store (SqlWorkspaceStore)

    def workspaces(self, tenant_id: str | None = None) -> list[WorkspaceSummary]:
        only = [tenants_table.c.id == tenant_id] if tenant_id else []
        rows = self.conn.execute(
            select(tenants_table).where(*only).order_by(tenants_table.c.name, tenants_table.c.id)
        ).all()
        counts: dict[str, dict[MemberStatus, int]] = {}
        member_only = [members.c.tenant_id == tenant_id] if tenant_id else []
        for tid, status, n in self.conn.execute(
            select(members.c.tenant_id, members.c.status, func.count())
            .where(*member_only)
            .group_by(members.c.tenant_id, members.c.status)
        ).tuples():
            counts.setdefault(tid, {})[MemberStatus(status)] = int(n)
        group_only = [workspace_groups.c.tenant_id == tenant_id] if tenant_id else []
        groups: dict[str, int] = {
            tid: int(n)
            for tid, n in self.conn.execute(
                select(workspace_groups.c.tenant_id, func.count())
                .where(*group_only)
                .group_by(workspace_groups.c.tenant_id)
            ).tuples()
        }
        return [
            WorkspaceSummary(
                **vars(tenants.tenant_from_row(row)),
                members={s: counts.get(row.id, {}).get(s, 0) for s in MemberStatus},
                groups=groups.get(row.id, 0),
            )
            for row in rows
        ]

    def sso_domain_owners(self, domains: Sequence[str], *, other_than: str = "") -> dict[str, str]:
        # Domains are a JSON list per tenant, so the few workspaces with SSO on are read
        # whole: an operator's command, not a request path. A write store holds a lock
        # until its commit, so two workspaces created at once cannot both take a domain
        # (a check-then-write race; a unique index cannot reach into a JSON list).
        if self.lock_tenant and self.conn.dialect.name == "postgresql":
            self.conn.execute(select(func.pg_advisory_xact_lock(_SSO_DOMAINS_LOCK)))
        wanted = {d.lower() for d in domains}
        owners: dict[str, str] = {}
        for tid, held in self.conn.execute(
            select(tenants_table.c.id, tenants_table.c.sso_domains)
            .where(tenants_table.c.sso_configured.is_(True), tenants_table.c.id != other_than)
            .order_by(tenants_table.c.created_at)
        ).tuples():
            for domain in held or ():
                if domain.lower() in wanted:
                    owners.setdefault(domain.lower(), tid)
        return owners

    def set_idp(self, tenant_id: str, idp: str) -> None:
        tenants.update_fields(self.conn, tenant_id, idp=idp)

    def set_options(self, tenant_id: str, options: Mapping[str, Any]) -> None:
        tenants.update_fields(self.conn, tenant_id, options=dict(options))
