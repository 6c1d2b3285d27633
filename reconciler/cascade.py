"""Rule 11: removing the SSO configuration removes SCIM and cascades, as a plan of actions.

Planned one member or group at a time, so a caller can stream the workspace in
chunks and apply each chunk's plan with set-based statements
(`storage.workspace.sso.run_sso_removal`).

What happens to each kind of member:
- SCIM-managed groups are deleted (their memberships and permissions go with them).
- Deactivated members are deleted permanently, except the Owner, who is
  unlinked and made active again (an Owner must keep access).
- Active SCIM-managed members stop being SCIM-managed: without a password they
  become pending with a new invitation; with a password they stay active. The
  Owner always stays active.
- Pending SCIM-managed members (decision): stay pending, are unlinked, and get an
  invitation if they have no open one, so they can still join.
- Native active/pending members are untouched.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from reconciler import rules
from reconciler.model import (
    Action,
    ActualGroup,
    ActualMember,
    CreateInvitation,
    DeleteGroup,
    DeleteMember,
    MemberStatus,
    SetMemberStatus,
    TenantPolicy,
    UnlinkMember,
)


@dataclass
class CascadeReport:
    """Counts per action kind applied by the cascade, and the SCIM tokens revoked."""

    tenant_id: str
    counts: dict[str, int] = field(default_factory=dict)
    tokens_revoked: int = 0


def plan_member_sso_removal(policy: TenantPolicy, member: ActualMember) -> list[Action]:
    owner = rules.is_owner(member, policy)
    actions: list[Action] = []
    if member.status is MemberStatus.DEACTIVATED and not owner:
        return [DeleteMember(member.id, member.email_ci)]
    if member.scim_managed:
        actions.append(UnlinkMember(member.id))
    if member.status is MemberStatus.DEACTIVATED:  # the Owner
        actions.append(SetMemberStatus(member.id, MemberStatus.ACTIVE, None))
    elif member.scim_managed and not owner:
        if member.status is MemberStatus.ACTIVE and not member.has_password:
            actions.append(SetMemberStatus(member.id, MemberStatus.PENDING, None))
            actions.append(CreateInvitation(member.id, member.email))
        elif member.status is MemberStatus.PENDING:
            actions.append(CreateInvitation(member.id, member.email))
    return actions


def plan_group_sso_removal(group: ActualGroup) -> list[Action]:
    return [DeleteGroup(group.id, group.name)] if group.scim_managed else []


def plan_sso_removal(
    policy: TenantPolicy, members: Iterable[ActualMember], groups: Iterable[ActualGroup]
) -> list[Action]:
    """The whole cascade for the given members and groups (call per chunk to stream)."""
    actions: list[Action] = []
    for group in groups:
        actions += plan_group_sso_removal(group)
    for member in members:
        actions += plan_member_sso_removal(policy, member)
    return actions
