"""Workspaces (tenants) and their admin token: the operator's services, called by the CLI.

Same conventions as reconciler/admin.py: each writes through the `AdminStore`,
records one audit entry and returns.
"""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.admin import load_policy
from reconciler.admin_store import AdminStore, IssuedToken, WorkspaceCreated


def create_workspace(
    store: AdminStore,
    *,
    name: str,
    sso_domains: Sequence[str],
    idp: str,
    owner_email: str | None,
    actor: str,
) -> WorkspaceCreated:
    """A workspace with SSO configured for `sso_domains`, its admin token (shown once) and,
    when named, its Owner: an active member with a password."""
    created = store.create_workspace(
        name=name, idp=idp, sso_domains=sso_domains, owner_email=owner_email
    )
    store.audit(
        created.id,
        actor=actor,
        action="create_workspace",
        target=f"tenant:{created.id}",
        detail={
            "name": created.name,
            "idp": created.idp,
            "sso_domains": list(created.sso_domains),
            "owner_email": created.owner_email,
        },
    )
    return created


def rotate_admin_token(store: AdminStore, *, tenant_id: str, actor: str) -> IssuedToken:
    """A new admin token; every earlier one stops working at once (same transaction)."""
    load_policy(store, tenant_id)
    issued = store.rotate_token(tenant_id, "admin")
    store.audit(
        tenant_id,
        actor=actor,
        action="rotate_admin_token",
        target=f"tenant:{tenant_id}",
        detail={"token_id": issued.id},
    )
    return issued
