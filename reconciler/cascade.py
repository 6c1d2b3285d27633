"""Rule 11: what removing the SSO configuration does to each member and group, as actions.

Planned one member or group at a time, so the SSO-removal service
(reconciler/sso.py) can stream the workspace in pages and apply each page's plan
with set-based statements. Status changes come from the one transition table
(`rules.STATUS_TRANSITIONS`), with the trigger chosen here:

- SCIM-managed groups are deleted (their memberships and permissions go with them).
- Deactivated members are deleted permanently, except the Owner, who is
  unlinked and stays deactivated (the IdP deactivated it; while it was the last
  active admin the IdP could not, see `rules.keeps_last_admin`).
- Active SCIM-managed members stop being SCIM-managed: without a password they
  become pending; with a password they stay active. The Owner keeps its status.
  No invitation is sent here: an administrator sends them from the Pending tab
  (one by one or all at once), as the product's rule says.
- Pending SCIM-managed members: stay pending and are unlinked.
- Native active/pending members are untouched.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reconciler import rules
from reconciler.model import (
    Action,
    ActualGroup,
    ActualMember,
    DeleteGroup,
    DeleteMember,
    SetMemberStatus,
    TenantPolicy,
    UnlinkMember,
)
from reconciler.rules import Transition, Trigger


@dataclass
class CascadeReport:
    """Counts per action kind applied by the cascade, the SCIM tokens revoked, and the
    webhook signing keys and Okta hook secrets revoked with them."""

    tenant_id: str
    counts: dict[str, int] = field(default_factory=dict)
    tokens_revoked: int = 0
    webhook_secrets_revoked: int = 0


# What each counted action means to an operator about to confirm `scimsync sso remove`.
CASCADE_WORDS = {
    "delete_group": "SCIM group(s) deleted, with their memberships and permissions",
    "delete_member": "deactivated member(s) deleted for good",
    "unlink_member": "member(s) no longer SCIM-managed (editable by the workspace's admins)",
    "set_member_status": "member(s) without a password become pending (invite them to return)",
}


def sso_removal_trigger(policy: TenantPolicy, member: ActualMember) -> Trigger:
    if rules.is_owner(member, policy):
        return Trigger.SSO_REMOVED_OWNER
    if member.scim_managed and not member.has_password:
        return Trigger.SSO_REMOVED_PASSWORDLESS
    return Trigger.SSO_REMOVED


def plan_member_sso_removal(policy: TenantPolicy, member: ActualMember) -> list[Action]:
    trigger = sso_removal_trigger(policy, member)
    if rules.transition_for(member.status, trigger) is Transition.DELETE:
        return [DeleteMember(member.id, member.email_ci)]
    actions: list[Action] = [UnlinkMember(member.id)] if member.scim_managed else []
    current = (member.status, member.status_before_deactivation)
    status, before = rules.status_after(current, trigger)
    if (status, before) != current:
        actions.append(SetMemberStatus(member.id, status, before))
    return actions


def plan_group_sso_removal(group: ActualGroup) -> list[Action]:
    return [DeleteGroup(group.id, group.name)] if group.scim_managed else []
