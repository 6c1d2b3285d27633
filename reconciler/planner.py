"""The one planner: (desired, actual) of a user or group -> actions. No actions = no drift.

The event worker and the full reconcile both call `plan_user` / `plan_group`, so
there is one definition of "in step". Memberships are compared by the store as a
drift count (missing + extra SCIM memberships) and repaired by one set-based
sync action, never member by member.

Decisions the rules of docs/architecture.md §4 leave open:
- The Owner (role owner, or the tenant's owner_email) is never deleted nor
  deactivated by SCIM. IdP DELETE of the Owner's user: the Owner stays in the
  workspace with its status, is unlinked from SCIM (so later runs see no drift)
  and loses only its SCIM memberships. IdP `active: false` for the Owner: the
  Owner stays as it is. Both are recorded as a refusal (`owner_protected`,
  audit log + ApplyOutcome.refusals); the deactivation refusal is recorded once
  per mirror version (not again when the same version is re-planned).
- Linking (rule 2) keeps the member's status, then applies rule 4; a new
  member starts by rule 3. Display names are taken from the IdP when it sends
  one. `has_password` only ever turns on (a password set in the workspace stays).
- A user whose email is held by a member linked to another SCIM user that no
  longer claims it (deleted in the IdP, or its email changed) cannot be planned
  yet: the planner raises `DependsOn(that user's key)` and the caller applies
  that user first, so the outcome does not depend on key order.
- Two SCIM users claiming one email, or an IdP email change onto another
  member's address: `RuleViolation("email_conflict")`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from reconciler import rules
from reconciler.ids import new_id
from reconciler.model import (
    Action,
    ActualMember,
    CreateGroup,
    CreateInvitation,
    CreateMember,
    DeleteGroup,
    DeleteMember,
    DependsOn,
    DesiredUser,
    GroupSnapshot,
    LinkMember,
    MemberStatus,
    RecordRefusal,
    RenameGroup,
    RuleViolation,
    SetMemberStatus,
    SyncGroupMembers,
    SyncUserMemberships,
    TenantPolicy,
    UnlinkMember,
    UpdateMemberProfile,
    UserSnapshot,
)

IdFactory = Callable[[], str]


def plan(policy: TenantPolicy, snapshot: UserSnapshot | GroupSnapshot) -> list[Action]:
    """The diff helper: actions that bring the workspace in step; [] means no drift."""
    if isinstance(snapshot, UserSnapshot):
        return plan_user(policy, snapshot)
    return plan_group(policy, snapshot)


# --- users ---------------------------------------------------------------------------


def plan_user(
    policy: TenantPolicy, snap: UserSnapshot, make_id: IdFactory = new_id
) -> list[Action]:
    desired = snap.desired
    if desired is None:
        return _user_gone(policy, snap.linked, snap.scim_id)
    if not desired.email_ci:
        raise RuleViolation("no_email", f"SCIM user {snap.scim_id} has no email address")
    holder = snap.email_holder
    if holder is not None and holder.scim_user_id is not None:
        if snap.email_holder_released:  # its SCIM user was deleted or moved to another email
            raise DependsOn(("User", holder.scim_user_id))
        raise RuleViolation(
            "email_conflict", f"{desired.email_ci} belongs to another SCIM user's member"
        )
    if holder is not None:  # rule 2
        if snap.linked is not None:
            raise RuleViolation(
                "email_conflict", f"{desired.email_ci} already belongs to another member"
            )
        linked = replace(holder, scim_user_id=desired.scim_id)
        actions: list[Action] = [LinkMember(holder.id, desired.scim_id)]
        actions += _converge(policy, desired, linked, snap.applied_version)
        return [*actions, SyncUserMemberships(holder.id)]
    if snap.linked is None:
        return _create_member(policy, desired, make_id())
    actions = _converge(policy, desired, snap.linked, snap.applied_version)
    if snap.membership_drift:
        actions.append(SyncUserMemberships(snap.linked.id))
    return actions


def _user_gone(policy: TenantPolicy, member: ActualMember | None, scim_id: str) -> list[Action]:
    """Rule 5: the IdP deleted the user."""
    if member is None:
        return []
    if rules.is_owner(member, policy):
        detail = "the IdP deleted the Owner's user; the Owner stays and is no longer SCIM-managed"
        return [
            UnlinkMember(member.id),
            SyncUserMemberships(member.id),
            RecordRefusal(member.id, scim_id, "owner_protected", detail),
        ]
    return [DeleteMember(member.id, member.email_ci)]


def _create_member(policy: TenantPolicy, desired: DesiredUser, member_id: str) -> list[Action]:
    """Rule 3, then rule 4 when the IdP creates the user inactive."""
    email = desired.email or desired.email_ci or ""
    start = rules.initial_status(email, policy)
    owner = desired.email_ci == policy.owner_email
    status, before = rules.next_status((start, None), desired.active or owner, start)
    actions: list[Action] = [
        CreateMember(
            member_id,
            desired.scim_id,
            email,
            desired.display_name,
            status,
            before,
            desired.has_password,
        )
    ]
    if status is MemberStatus.PENDING:
        actions.append(CreateInvitation(member_id, email))
    if owner and not desired.active:
        actions.append(_owner_deactivation_refused(member_id, desired.scim_id))
    return [*actions, SyncUserMemberships(member_id)]


def _converge(
    policy: TenantPolicy, desired: DesiredUser, member: ActualMember, applied_version: int | None
) -> list[Action]:
    """Status (rule 4, Owner protected) and profile of a linked member."""
    actions: list[Action] = []
    email = desired.email or member.email
    # Judged on the email the member is about to have, so that the next run agrees (a member
    # moving onto the Owner's address is protected now, not one run later).
    owner = rules.is_owner(replace(member, email=email, email_ci=email.lower()), policy)
    current = (member.status, member.status_before_deactivation)
    fallback = rules.initial_status(email, policy)
    status, before = rules.next_status(current, desired.active or owner, fallback)
    if (status, before) != current:
        actions.append(SetMemberStatus(member.id, status, before))
        if status is MemberStatus.PENDING:
            actions.append(CreateInvitation(member.id, email))
    if owner and not desired.active and desired.version != applied_version:
        actions.append(_owner_deactivation_refused(member.id, desired.scim_id))
    display_name = desired.display_name or member.display_name
    has_password = member.has_password or desired.has_password
    if (email, display_name, has_password) != (
        member.email,
        member.display_name,
        member.has_password,
    ):
        actions.append(UpdateMemberProfile(member.id, email, display_name, has_password))
    return actions


def _owner_deactivation_refused(member_id: str, scim_id: str) -> RecordRefusal:
    detail = "the IdP deactivated the Owner's user; the Owner stays active"
    return RecordRefusal(member_id, scim_id, "owner_protected", detail)


# --- groups ----------------------------------------------------------------------------


def plan_group(
    policy: TenantPolicy, snap: GroupSnapshot, make_id: IdFactory = new_id
) -> list[Action]:
    desired, actual = snap.desired, snap.actual
    if desired is None:
        return [DeleteGroup(actual.id, actual.name)] if actual is not None else []
    rules.check_groups_supported(policy)  # rule 10
    if actual is None:
        group_id = make_id()
        name = rules.scim_group_name(desired.display_name, snap.taken_names)
        return [CreateGroup(group_id, desired.scim_id, name), SyncGroupMembers(group_id)]
    actions: list[Action] = []
    if not rules.is_scim_name_for(actual.name, desired.display_name):
        taken = snap.taken_names - {actual.name.lower()}
        actions.append(RenameGroup(actual.id, rules.scim_group_name(desired.display_name, taken)))
    if snap.membership_drift:
        actions.append(SyncGroupMembers(actual.id))
    return actions
