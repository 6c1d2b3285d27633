"""The tenant side of the admin services in SQL, for `SqlAdminStore`
(storage/workspace/admin_store.py): workspaces, SSO and SCIM switches, tokens, and the
keyset pages the rule-11 cascade (reconciler/sso.py) streams through. Never commits."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, or_, select

from reconciler.admin_store import IssuedToken, TokenKind, WorkspaceCreated
from reconciler.model import ActualGroup, ActualMember, MemberStatus
from storage import tenants
from storage.schema import members, workspace_groups
from storage.workspace.rows import CHUNK, member_from_row

_wg, _m = workspace_groups, members


class SsoSql:
    conn: Connection

    # --- the cascade's pages -----------------------------------------------------------------

    def scim_group_pages(self, tenant_id: str) -> Iterator[list[ActualGroup]]:
        for rows in _pages(self.conn, _wg, tenant_id, _wg.c.scim_group_id.is_not(None)):
            yield [ActualGroup(row.id, row.name, row.scim_group_id) for row in rows]

    def sso_removal_member_pages(self, tenant_id: str) -> Iterator[list[ActualMember]]:
        deactivated = MemberStatus.DEACTIVATED.value
        affected = or_(_m.c.scim_user_id.is_not(None), _m.c.status == deactivated)
        for rows in _pages(self.conn, _m, tenant_id, affected):
            yield [member_from_row(row) for row in rows]

    # --- workspaces, SSO, SCIM, tokens ---------------------------------------------------------

    def create_workspace(
        self, *, name: str, idp: str, sso_domains: Sequence[str], owner_email: str | None
    ) -> WorkspaceCreated:
        created = tenants.create_workspace(
            self.conn, name=name, sso_domains=list(sso_domains), idp=idp, owner_email=owner_email
        )
        return WorkspaceCreated(
            id=created["id"],
            name=created["name"],
            idp=created["idp"],
            sso_domains=tuple(created["sso_domains"]),
            owner_email=created["owner_email"],
            admin_token=created["admin_token"],
        )

    def configure_sso(self, tenant_id: str, *, domains: Sequence[str], provider: str) -> None:
        tenants.update_fields(
            self.conn,
            tenant_id,
            sso_domains=list(domains),
            sso_provider=provider,
            sso_configured=True,
        )

    def remove_sso_configuration(self, tenant_id: str) -> None:
        tenants.update_fields(self.conn, tenant_id, sso_configured=False)

    def enable_scim(self, tenant_id: str) -> IssuedToken:
        return tenants.enable_scim(self.conn, tenant_id)

    def disable_scim(self, tenant_id: str) -> int:
        return tenants.disable_scim(self.conn, tenant_id)

    def revoke_webhook_secrets(self, tenant_id: str) -> int:
        return tenants.revoke_tokens(self.conn, tenant_id, "webhook") + tenants.revoke_tokens(
            self.conn, tenant_id, "okta_hook"
        )

    def rotate_token(self, tenant_id: str, kind: TokenKind) -> IssuedToken:
        return tenants.rotate_token(self.conn, tenant_id, kind)


def _pages(
    conn: Connection, table: Any, tenant_id: str, condition: ColumnElement[bool]
) -> Iterator[Sequence[Any]]:
    """Keyset pages by id: rows may be deleted or updated between pages."""
    last = ""
    while True:
        rows = conn.execute(
            select(table)
            .where(table.c.tenant_id == tenant_id, table.c.id > last, condition)
            .order_by(table.c.id)
            .limit(CHUNK)
        ).fetchall()
        if not rows:
            return
        yield rows
        last = rows[-1].id
