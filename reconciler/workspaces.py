"""Workspaces (tenants) and their admin token: the operator's services, called by the CLI.

Same conventions as reconciler/admin.py: each writes through the `AdminStore`,
records one audit entry and returns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler import tenant_options
from reconciler.admin import load_policy
from reconciler.admin_store import AdminStore, IssuedToken, WorkspaceCreated, WorkspaceSummary
from reconciler.errors import InvalidValue, NotFound, RuleRefusal
from reconciler.model import IdpKind
from reconciler.validation import clean_domains, clean_email


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
    when named, its Owner: an active member with a password.

    Refused before anything is written: a blank name, an unknown IdP, a value that is
    not a domain or an email address, a domain another workspace's SSO already has."""
    name = name.strip()
    if not name:
        raise InvalidValue("a workspace needs a name")
    domains = clean_domains(sso_domains)
    owner = clean_email(owner_email) if owner_email is not None else None
    check_domains_free(store, domains)
    created = store.create_workspace(
        name=name, idp=_idp(idp), sso_domains=domains, owner_email=owner
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


def _idp(value: str) -> str:
    try:
        return IdpKind(value).value
    except ValueError:
        known = ", ".join(kind.value for kind in IdpKind)
        raise InvalidValue(f"unknown IdP {value!r}; one of {known}") from None


def check_domains_free(store: AdminStore, domains: Sequence[str], tenant_id: str = "") -> None:
    """An SSO domain belongs to one workspace: whose users sign in through it, and which
    workspace SCIM users with that email join, must never be ambiguous."""
    taken = store.sso_domain_owners(domains, other_than=tenant_id)
    if taken:
        domain, owner = sorted(taken.items())[0]
        raise RuleRefusal(
            "sso_domain_taken",
            f"the SSO domain {domain} already belongs to workspace {owner}",
        )


def list_workspaces(store: AdminStore) -> list[WorkspaceSummary]:
    return store.workspaces()


def get_workspace(store: AdminStore, *, tenant_id: str) -> WorkspaceSummary:
    found = store.workspaces(tenant_id)
    if not found:
        raise NotFound(f"workspace {tenant_id} not found")
    return found[0]


def set_idp(store: AdminStore, *, tenant_id: str, idp: str, actor: str) -> WorkspaceSummary:
    """Which IdP's dialect reads this workspace's SCIM requests (events/ingest/dialects/)."""
    before, after = load_policy(store, tenant_id).idp.value, _idp(idp)
    store.set_idp(tenant_id, after)
    store.audit(
        tenant_id,
        actor=actor,
        action="set_idp",
        target=f"tenant:{tenant_id}",
        detail={"from": before, "to": after},
    )
    return get_workspace(store, tenant_id=tenant_id)


def set_options(
    store: AdminStore, *, tenant_id: str, changes: Mapping[str, Any], actor: str
) -> WorkspaceSummary:
    """Changes the known options (reconciler/tenant_options.py; None removes one)."""
    load_policy(store, tenant_id)
    current = get_workspace(store, tenant_id=tenant_id).options
    store.set_options(tenant_id, tenant_options.merged(current, changes))
    store.audit(
        tenant_id,
        actor=actor,
        action="set_options",
        target=f"tenant:{tenant_id}",
        detail={"changes": dict(changes)},
    )
    return get_workspace(store, tenant_id=tenant_id)
