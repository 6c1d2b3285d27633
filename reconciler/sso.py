"""SSO and SCIM of a workspace (rules 1 and 11): one service per operation, for the admin
API and the CLI alike.

Same conventions as reconciler/admin.py: load the policy (locking the tenant),
check the rule, write through the `AdminStore`, record one audit entry, return.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from reconciler import rules
from reconciler.admin import load_policy
from reconciler.admin_store import AdminStore, IssuedToken
from reconciler.cascade import CascadeReport, plan_group_sso_removal, plan_member_sso_removal
from reconciler.model import Action, TenantPolicy, UnlinkGroup, UnlinkMember
from reconciler.validation import clean_domains
from reconciler.workspaces import check_domains_free


def _tenant_target(tenant_id: str) -> str:
    return f"tenant:{tenant_id}"


def configure_sso(
    store: AdminStore, *, tenant_id: str, domains: Sequence[str], provider: str, actor: str
) -> TenantPolicy:
    """Verified email domains and the provider; replaces any earlier configuration.
    A domain another workspace's SSO has is refused (`workspaces.check_domains_free`)."""
    load_policy(store, tenant_id)
    clean = clean_domains(domains)
    check_domains_free(store, clean, tenant_id)
    store.configure_sso(tenant_id, domains=clean, provider=provider)
    store.audit(
        tenant_id,
        actor=actor,
        action="configure_sso",
        target=_tenant_target(tenant_id),
        detail={"domains": clean, "provider": provider},
    )
    return load_policy(store, tenant_id)


def enable_scim(store: AdminStore, *, tenant_id: str, actor: str) -> IssuedToken:
    """Rule 1: only with SSO configured, and not twice (a second enable would silently cut
    the IdP off). The token is returned once and stored as a hash."""
    rules.check_admin_enable_scim(load_policy(store, tenant_id))
    issued = store.enable_scim(tenant_id)
    store.audit(
        tenant_id,
        actor=actor,
        action="enable_scim",
        target=_tenant_target(tenant_id),
        detail={"token_id": issued.id},
    )
    return issued


def rotate_scim_token(store: AdminStore, *, tenant_id: str, actor: str) -> IssuedToken:
    """A new SCIM token while SCIM is on; the old one stops working at once."""
    rules.check_scim_enabled(load_policy(store, tenant_id))
    issued = store.rotate_token(tenant_id, "scim")
    store.audit(
        tenant_id,
        actor=actor,
        action="rotate_scim_token",
        target=_tenant_target(tenant_id),
        detail={"token_id": issued.id},
    )
    return issued


def disable_scim(
    store: AdminStore, *, tenant_id: str, actor: str, action: str = "disable_scim"
) -> None:
    """Revokes the SCIM tokens; members and groups stay as they are (and stay SCIM-managed).

    This is *pause* on the Members page ("provisioning paused"): the locks stay, and
    enabling SCIM again lets the IdP pick up where it stopped."""
    load_policy(store, tenant_id)
    revoked = store.disable_scim(tenant_id)
    store.audit(
        tenant_id,
        actor=actor,
        action=action,
        target=_tenant_target(tenant_id),
        detail={"tokens_revoked": revoked},
    )


def pause_scim(store: AdminStore, *, tenant_id: str, actor: str) -> None:
    disable_scim(store, tenant_id=tenant_id, actor=actor, action="pause_scim")


def disconnect_scim(store: AdminStore, *, tenant_id: str, actor: str) -> CascadeReport:
    """SCIM off for good while SSO stays: every SCIM-managed member and group becomes
    native, so admins can edit them again. A group drops its ` (SCIM)` suffix where the
    bare name is free, else is named "<name> (from IdP)"."""
    load_policy(store, tenant_id)
    report = CascadeReport(tenant_id)
    report.tokens_revoked = store.disable_scim(tenant_id)
    # For good: the webhook credentials that provision into the workspace go too.
    report.webhook_secrets_revoked = store.revoke_webhook_secrets(tenant_id)
    for groups in store.scim_group_pages(tenant_id):
        planned: list[Action] = []
        for group in groups:
            taken = store.group_names_taken(
                tenant_id, _native_name(group.name), other_than=group.id
            )
            planned.append(UnlinkGroup(group.id, _free_native_name(group.name, taken)))
        _apply(store, report, planned, actor)
    for members in store.sso_removal_member_pages(tenant_id):
        _apply(store, report, [UnlinkMember(m.id) for m in members if m.scim_managed], actor)
    store.audit(
        tenant_id,
        actor=actor,
        action="disconnect_scim",
        target=_tenant_target(tenant_id),
        detail=_revocations(report),
    )
    return report


def _native_name(name: str) -> str:
    return rules.strip_reserved_suffix(name) or name


def _free_native_name(name: str, taken: set[str]) -> str:
    bare = _native_name(name)
    return bare if bare.lower() not in taken else f"{bare} (from IdP)"


def preview_sso_removal(store: AdminStore, *, tenant_id: str) -> CascadeReport:
    """What `remove_sso` would do now, counted the same way, with nothing written: the
    CLI shows it before asking for confirmation. `tokens_revoked` is the SCIM token that
    would stop working (one while SCIM is on)."""
    policy = load_policy(store, tenant_id)
    rules.check_sso_removal(policy)
    report = CascadeReport(tenant_id, tokens_revoked=int(policy.scim_enabled))
    for groups in store.scim_group_pages(tenant_id):
        _count(report, [a for group in groups for a in plan_group_sso_removal(group)])
    for members in store.sso_removal_member_pages(tenant_id):
        _count(report, [a for member in members for a in plan_member_sso_removal(policy, member)])
    return report


def _count(report: CascadeReport, actions: list[Action]) -> None:
    for action in actions:
        report.counts[action.kind] = report.counts.get(action.kind, 0) + 1


def remove_sso(
    store: AdminStore,
    *,
    tenant_id: str,
    actor: str,
    progress: Callable[[int], object] | None = None,
) -> CascadeReport:
    """Rule 11: SSO off, SCIM off with its tokens and the webhook secrets revoked, and
    the cascade.

    The workspace is streamed a page at a time and each page's plan applied
    through the workspace's write path (one audit row per action), then one
    `remove_sso` entry sums it up. `progress` hears how many actions each page
    planned (the CLI's progress bar on a large workspace)."""
    policy = load_policy(store, tenant_id)
    rules.check_sso_removal(policy)
    report = CascadeReport(tenant_id)
    for groups in store.scim_group_pages(tenant_id):
        planned = [a for group in groups for a in plan_group_sso_removal(group)]
        _apply(store, report, planned, actor, progress)
    for members in store.sso_removal_member_pages(tenant_id):
        planned = [a for member in members for a in plan_member_sso_removal(policy, member)]
        _apply(store, report, planned, actor, progress)
    # Every credential that provisions into the workspace: SCIM tokens and webhook
    # secrets alike (a webhook secret left live would come back with the next enable).
    report.tokens_revoked = store.disable_scim(tenant_id)
    report.webhook_secrets_revoked = store.revoke_webhook_secrets(tenant_id)
    store.remove_sso_configuration(tenant_id)
    store.audit(
        tenant_id,
        actor=actor,
        action="remove_sso",
        target=_tenant_target(tenant_id),
        detail=_revocations(report),
    )
    return report


def _revocations(report: CascadeReport) -> dict[str, object]:
    return {
        "counts": report.counts,
        "tokens_revoked": report.tokens_revoked,
        "webhook_secrets_revoked": report.webhook_secrets_revoked,
    }


def _apply(
    store: AdminStore,
    report: CascadeReport,
    actions: list[Action],
    actor: str,
    progress: Callable[[int], object] | None = None,
) -> None:
    if not actions:
        return
    for kind, n in store.apply(report.tenant_id, actions, actor).counts.items():
        report.counts[kind] = report.counts.get(kind, 0) + n
    if progress is not None:
        progress(len(actions))
