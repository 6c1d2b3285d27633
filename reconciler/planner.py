"""The one planner: (desired, actual) of a user or group -> actions. No actions = no drift.

The event worker and the full reconcile both call `plan_user` / `plan_group`, so
there is one definition of "in step". Memberships are compared by the store as a
drift count (missing + extra SCIM memberships) and repaired by one set-based
sync action, never member by member.

Decisions the rules of docs/architecture.md §4 leave open:
- The Owner (role owner, or the tenant's owner_email) is never deleted by SCIM.
  IdP DELETE of the Owner's user: the Owner stays in the workspace with its
  status, is unlinked from SCIM (so later runs see no drift) and loses only its
  SCIM memberships; recorded as a refusal (`owner_protected`).
- IdP `active: false` deactivates anyone, the Owner included, except the
  workspace's last active admin (`rules.keeps_last_admin`): nobody would be left
  able to log in and administer it. That one stays active and the refusal is
  recorded (`last_admin`, audit log + ApplyOutcome.refusals, shown on the
  Members page) once per mirror version.
- Linking (rule 2) keeps the member's status, then applies rule 4; a new
  member starts by rule 3. Display names are the IdP's (`rules.member_display_name`
  picks which attribute). `has_password` only ever turns on (a password set in the workspace stays).
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
    AdminSeat,
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
        actions += _converge(policy, desired, linked, snap)
        return [*actions, SyncUserMemberships(holder.id)]
    if snap.linked is None:
        return _create_member(policy, desired, make_id(), snap.active_admins)
    actions = _converge(policy, desired, snap.linked, snap)
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


def _create_member(
    policy: TenantPolicy,
    desired: DesiredUser,
    member_id: str,
    active_admins: frozenset[AdminSeat],
) -> list[Action]:
    """Rule 3, then rule 4 when the IdP creates the user inactive."""
    email = desired.email or desired.email_ci or ""
    start = rules.initial_status(email, policy)
    guarded = desired.email_ci == policy.owner_email and rules.keeps_last_admin(None, active_admins)
    status, before = rules.next_status((start, None), desired.active or guarded, start)
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
    if guarded and not desired.active:
        actions.append(_last_admin_refused(member_id, desired.scim_id))
    return [*actions, SyncUserMemberships(member_id)]


def _converge(
    policy: TenantPolicy, desired: DesiredUser, member: ActualMember, snap: UserSnapshot
) -> list[Action]:
    """Status (rule 4, the last active admin kept) and profile of a linked member."""
    actions: list[Action] = []
    email = desired.email or member.email
    # Judged on the email the member is about to have, so that the next run agrees (a member
    # moving onto the Owner's address is guarded now, not one run later).
    admin = rules.is_admin(replace(member, email=email, email_ci=email.lower()), policy)
    guarded = (
        admin
        and member.status is MemberStatus.ACTIVE
        and rules.keeps_last_admin(member.id, snap.active_admins)
    )
    current = (member.status, member.status_before_deactivation)
    fallback = rules.initial_status(email, policy)
    status, before = rules.next_status(current, desired.active or guarded, fallback)
    if (status, before) != current:
        actions.append(SetMemberStatus(member.id, status, before))
        if status is MemberStatus.PENDING:
            actions.append(CreateInvitation(member.id, email))
    if guarded and not desired.active and desired.version != snap.applied_version:
        actions.append(_last_admin_refused(member.id, desired.scim_id))
    display_name = desired.display_name or member.display_name
    has_password = member.has_password or desired.has_password
    if (email, display_name, has_password) != (
        member.email,
        member.display_name,
        member.has_password,
    ):
        actions.append(UpdateMemberProfile(member.id, email, display_name, has_password))
    return actions


def _last_admin_refused(member_id: str, scim_id: str) -> RecordRefusal:
    return RecordRefusal(member_id, scim_id, "last_admin", rules.LAST_ADMIN_DETAIL)


# --- groups ----------------------------------------------------------------------------


def plan_group(
    policy: TenantPolicy, snap: GroupSnapshot, make_id: IdFactory = new_id
) -> list[Action]:
    desired, actual = snap.desired, snap.actual
    if desired is None:
        return [DeleteGroup(actual.id, actual.name)] if actual is not None else []
    rules.check_groups_supported(policy)  # rule 10
    name = rules.scim_group_name(desired.display_name)
    if actual is None:
        rules.check_scim_group_name_free(name, snap.taken_names)
        group_id = make_id()
        return [CreateGroup(group_id, desired.scim_id, name), SyncGroupMembers(group_id)]
    actions: list[Action] = []
    if not rules.is_scim_name_for(actual.name, desired.display_name):
        rules.check_scim_group_name_free(name, snap.taken_names - {actual.name.lower()})
        actions.append(RenameGroup(actual.id, name))
    if snap.membership_drift:
        actions.append(SyncGroupMembers(actual.id))
    return actions
