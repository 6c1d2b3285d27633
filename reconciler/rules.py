"""The workspace rules (docs/architecture.md, section 4) as pure functions and tables.

The planner (event apply and full reconcile) and the admin services
(reconciler/admin.py, sso.py, workspaces.py) call these, so a rule is written
once. Checks the planner makes raise `RuleViolation(code, detail)` (the worker
dead-letters the event); checks of an admin's request raise
`RuleRefusal(code, detail)` (409 in the admin API, exit 1 in the CLI).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import Enum, StrEnum

from reconciler.errors import RuleRefusal
from reconciler.model import (
    Access,
    ActualGroup,
    ActualMember,
    AdminSeat,
    IdpKind,
    MemberStatus,
    Role,
    RuleViolation,
    TenantPolicy,
)

MANAGE_IN_IDP = "it is managed by SCIM; manage it in your identity provider"

# --- rule 1: SCIM needs SSO ----------------------------------------------------


def check_enable_scim(policy: TenantPolicy) -> None:
    if not policy.sso_configured:
        raise RuleRefusal("sso_required", "configure SSO before enabling SCIM")


# --- rule 3: where a new SCIM user starts --------------------------------------


def email_domain(email: str) -> str:
    return email.rpartition("@")[2].lower()


def initial_status(email: str, policy: TenantPolicy) -> MemberStatus:
    """Active inside a verified SSO domain; otherwise an external user, pending an invitation."""
    in_sso_domain = email_domain(email) in policy.sso_domains
    return MemberStatus.ACTIVE if in_sso_domain else MemberStatus.PENDING


# --- rules 3, 4 and 11: one status-transition table -----------------------------------


class Trigger(StrEnum):
    """What may change a member's status, whoever asks (the IdP, an admin, the cascade)."""

    IDP_ACTIVE = "idp_active"  # rule 4: the IdP says `active: true`
    IDP_INACTIVE = "idp_inactive"  # rule 4: the IdP says `active: false`
    INVITATION_ACCEPTED = "invitation_accepted"  # rule 3: the member set a password
    SSO_REMOVED = "sso_removed"  # rule 11: a member who keeps a way in (a password, or native)
    SSO_REMOVED_PASSWORDLESS = "sso_removed_passwordless"  # rule 11: SCIM-managed, no password
    SSO_REMOVED_OWNER = "sso_removed_owner"  # rule 11: the Owner, who is never removed


class Transition(Enum):
    KEEP = "keep"
    DEACTIVATE = "deactivate"  # remember the status it had
    RESTORE = "restore"  # back to the remembered status
    ACTIVATE = "activate"  # active, nothing remembered
    MAKE_PENDING = "make_pending"  # pending (needs an invitation), nothing remembered
    DELETE = "delete"  # the member leaves the workspace
    REFUSE = "refuse"  # the trigger does not apply to this status


_A, _P, _D = MemberStatus.ACTIVE, MemberStatus.PENDING, MemberStatus.DEACTIVATED

# (current status, trigger) -> what happens. Memberships and permissions are never part
# of a transition: deactivation only changes the status.
STATUS_TRANSITIONS: dict[tuple[MemberStatus, Trigger], Transition] = {
    (_A, Trigger.IDP_ACTIVE): Transition.KEEP,
    (_P, Trigger.IDP_ACTIVE): Transition.KEEP,
    (_D, Trigger.IDP_ACTIVE): Transition.RESTORE,
    (_A, Trigger.IDP_INACTIVE): Transition.DEACTIVATE,
    (_P, Trigger.IDP_INACTIVE): Transition.DEACTIVATE,
    (_D, Trigger.IDP_INACTIVE): Transition.KEEP,
    (_A, Trigger.INVITATION_ACCEPTED): Transition.REFUSE,
    (_P, Trigger.INVITATION_ACCEPTED): Transition.ACTIVATE,
    (_D, Trigger.INVITATION_ACCEPTED): Transition.REFUSE,  # a deactivated member stays out
    (_A, Trigger.SSO_REMOVED): Transition.KEEP,
    (_P, Trigger.SSO_REMOVED): Transition.KEEP,
    (_D, Trigger.SSO_REMOVED): Transition.DELETE,
    (_A, Trigger.SSO_REMOVED_PASSWORDLESS): Transition.MAKE_PENDING,
    (_P, Trigger.SSO_REMOVED_PASSWORDLESS): Transition.KEEP,
    (_D, Trigger.SSO_REMOVED_PASSWORDLESS): Transition.DELETE,
    (_A, Trigger.SSO_REMOVED_OWNER): Transition.KEEP,
    (_P, Trigger.SSO_REMOVED_OWNER): Transition.KEEP,
    # The Owner is never deleted; deactivated by the IdP, it stays deactivated (the IdP's
    # decision stands; the last-admin guard keeps someone able to administer).
    (_D, Trigger.SSO_REMOVED_OWNER): Transition.KEEP,
}

StatusPair = tuple[MemberStatus, MemberStatus | None]  # (status, status_before_deactivation)


def transition_for(status: MemberStatus, trigger: Trigger) -> Transition:
    return STATUS_TRANSITIONS[(status, trigger)]


def status_after(
    current: StatusPair, trigger: Trigger, fallback: MemberStatus = MemberStatus.ACTIVE
) -> StatusPair:
    """The status after `trigger`; `fallback` when a restore finds nothing remembered.

    DELETE and REFUSE are no status: callers check `transition_for` first."""
    status, before = current
    transition = transition_for(status, trigger)
    if transition is Transition.KEEP:
        return current
    if transition is Transition.DEACTIVATE:
        return MemberStatus.DEACTIVATED, status
    if transition is Transition.RESTORE:
        return before or fallback, None
    if transition is Transition.ACTIVATE:
        return MemberStatus.ACTIVE, None
    if transition is Transition.MAKE_PENDING:
        return MemberStatus.PENDING, None
    raise ValueError(f"{trigger.value} on a {status.value} member is not a status change")


def next_status(current: StatusPair, idp_active: bool, fallback: MemberStatus) -> StatusPair:
    """Rule 4: the status after the IdP's `active` flag."""
    trigger = Trigger.IDP_ACTIVE if idp_active else Trigger.IDP_INACTIVE
    return status_after(current, trigger, fallback)


# --- rule 5: the Owner -----------------------------------------------------------


def is_owner(member: ActualMember, policy: TenantPolicy) -> bool:
    owner_email = policy.owner_email
    return member.role is Role.OWNER or (owner_email is not None and member.email_ci == owner_email)


ADMIN_ROLES = frozenset({Role.OWNER, Role.ADMIN})


def is_admin(member: ActualMember, policy: TenantPolicy) -> bool:
    """Who can administer the workspace by logging in: the Owner and members with role admin."""
    return member.role in ADMIN_ROLES or is_owner(member, policy)


def keeps_last_admin(member_id: str | None, seats: frozenset[AdminSeat]) -> bool:
    """Whether the IdP's deactivation of `member_id` (None: a user not yet a member) is
    refused so that one active admin stays able to log in and administer the workspace.

    Refused only when no other active admin is kept active by the IdP, and then for one
    admin alone, chosen the same whatever order the IdP's changes are applied in: the
    Owner first, else the smallest member id."""
    if any(seat.idp_active and seat.member_id != member_id for seat in seats):
        return False
    if not seats:
        return True
    keeper = min(seats, key=lambda seat: (not seat.owner, seat.member_id))
    return keeper.member_id == member_id


LAST_ADMIN_DETAIL = (
    "the IdP deactivated the workspace's last active admin; they stay active until another"
    " admin is active"
)


# --- display names ------------------------------------------------------------------


def member_display_name(
    display_name: str | None,
    formatted: str | None,
    given_name: str | None,
    family_name: str | None,
    user_name: str | None,
) -> str | None:
    """The name shown for a SCIM user: `displayName`, else `name.formatted`, else given +
    family name, else `userName`. IdPs differ in which they send (Google and many Okta
    apps send only `name.givenName`/`familyName`)."""
    for candidate in (display_name, formatted):
        if candidate and candidate.strip():
            return candidate.strip()
    parts = " ".join(p.strip() for p in (given_name, family_name) if p and p.strip())
    return parts or (user_name.strip() if user_name and user_name.strip() else None)


# --- rules 6 and 7: what admins cannot do to SCIM-managed things ------------------


def check_admin_delete_member(member: ActualMember, policy: TenantPolicy | None = None) -> None:
    if member.scim_managed:
        raise RuleRefusal("scim_managed", f"cannot delete this member: {MANAGE_IN_IDP}")
    owner = member.role is Role.OWNER or (policy is not None and is_owner(member, policy))
    if owner:
        raise RuleRefusal("owner_protected", "the workspace Owner cannot be deleted")


def check_admin_rename_group(group: ActualGroup) -> None:
    if group.scim_managed:
        raise RuleRefusal("scim_managed", f"cannot rename this group: {MANAGE_IN_IDP}")


def check_admin_delete_group(group: ActualGroup) -> None:
    if group.scim_managed:
        raise RuleRefusal("scim_managed", f"cannot delete this group: {MANAGE_IN_IDP}")


def check_admin_change_group_members(group: ActualGroup) -> None:
    """Only the group matters: a SCIM-managed member may join or leave a native group."""
    if group.scim_managed:
        raise RuleRefusal("scim_managed", f"cannot change this group's members: {MANAGE_IN_IDP}")


# Permissions on a SCIM group are the workspace's own business (rule 7): no check.


# --- rule 7: naming SCIM groups ----------------------------------------------------

SCIM_SUFFIX = " (SCIM)"
# Any spelling an admin could use to pass a native group off as the IdP's: "(SCIM)",
# "( scim )", "(SCIM 2)" (the numbered names of earlier versions), at the end of the name.
_RESERVED_SUFFIX = re.compile(r"\(\s*scim(?:\s+[0-9]+)?\s*\)\s*$", re.IGNORECASE)


def scim_group_name(display_name: str) -> str:
    """`"<displayName> (SCIM)"`: the one name an IdP group has in the workspace.

    Never numbered: when the name is taken the planner refuses (`group_name_taken`) rather
    than inventing "X (SCIM 2)", so the suffix always means one IdP group of that name."""
    return f"{display_name}{SCIM_SUFFIX}"


def is_scim_name_for(name: str, display_name: str) -> bool:
    """True when `name` is the workspace name for `display_name` (so no rename is due)."""
    return name == scim_group_name(display_name)


def has_reserved_suffix(name: str) -> bool:
    return _RESERVED_SUFFIX.search(name) is not None


def strip_reserved_suffix(name: str) -> str:
    return _RESERVED_SUFFIX.sub("", name).rstrip()


def name_family(display_name: str) -> str:
    """The lower-cased stem of a SCIM group's name: two groups of one family clash."""
    return display_name.lower()


def check_scim_group_name_free(name: str, taken: frozenset[str] | set[str]) -> None:
    """An IdP group whose name another group holds is refused, never renamed around."""
    if name.lower() in taken:
        raise RuleViolation(
            "group_name_taken",
            f"another group is already named {name!r}; rename one of the two groups in your"
            " identity provider",
        )


# --- rule 10: groups per IdP -------------------------------------------------------

USERS_ONLY_IDPS = frozenset({IdpKind.GOOGLE})


def check_groups_supported(policy: TenantPolicy) -> None:
    if policy.idp in USERS_ONLY_IDPS:
        raise RuleViolation(
            "groups_not_supported", f"{policy.idp.value} provisions users only, not groups"
        )


# --- rules 8 and 9: billing and the three tabs -------------------------------------

BILLABLE_STATUSES = frozenset({MemberStatus.ACTIVE})
MEMBER_TABS = (MemberStatus.ACTIVE, MemberStatus.PENDING, MemberStatus.DEACTIVATED)


# --- the login check -------------------------------------------------------------

LOGIN_BY_STATUS: dict[MemberStatus, tuple[bool, str]] = {
    MemberStatus.ACTIVE: (True, "active"),
    MemberStatus.PENDING: (False, "invitation_pending"),
    MemberStatus.DEACTIVATED: (False, "deactivated"),
}


def can_login(member: ActualMember | None, policy: TenantPolicy) -> tuple[bool, str]:
    """Whether this person may enter the workspace at all (how they sign in is SSO's job)."""
    if member is None:
        return False, "not_a_member"
    return LOGIN_BY_STATUS[member.status]


# --- admin actions on the Members page (rules 3, 7 and 11 seen from the admin's side) -------


def check_admin_invite(existing: ActualMember | None) -> None:
    """One member per email (case-insensitive), as rule 2 keeps it for SCIM users."""
    if existing is not None:
        raise RuleRefusal("already_member", f"{existing.email} is already a member")


def check_accept_invitation(member: ActualMember) -> None:
    """Rule 3: only a pending member accepts an invitation (a deactivated one stays out)."""
    if transition_for(member.status, Trigger.INVITATION_ACCEPTED) is Transition.REFUSE:
        raise RuleRefusal("not_pending", f"the member is {member.status.value}, not pending")


def check_group_name_free(name: str, taken: frozenset[str] | set[str]) -> None:
    """A native group's name: unique case-insensitively (`taken` holds other groups' names,
    lower-cased), and never ending in the `(SCIM)` suffix that marks the IdP's groups."""
    if has_reserved_suffix(name):
        raise RuleRefusal(
            "reserved_name",
            "names ending in (SCIM) are reserved for groups your identity provider manages",
        )
    if name.lower() in taken:
        raise RuleRefusal("name_taken", f"a group named {name!r} already exists")


def check_admin_enable_scim(policy: TenantPolicy) -> None:
    """Rule 1, and no second enable: it would silently revoke the token the IdP is using."""
    check_enable_scim(policy)
    if policy.scim_enabled:
        raise RuleRefusal(
            "scim_already_enabled", "SCIM is already enabled; disable it first or rotate its token"
        )


def check_sso_removal(policy: TenantPolicy) -> None:
    if not policy.sso_configured:
        raise RuleRefusal("sso_not_configured", "SSO is not configured for this workspace")


def check_scim_enabled(policy: TenantPolicy) -> None:
    """What needs SCIM on: rotating its token (which would otherwise turn SCIM back on), and
    a full reconcile (the apply refuses every key of a tenant without SCIM, so a run would
    report drift it can never repair, the same items on every run)."""
    if not policy.scim_enabled:
        raise RuleRefusal("scim_disabled", "SCIM is not enabled for this workspace")


# --- effective permissions: a member's access is the best any of its groups gives ---------

ACCESS_RANK: dict[Access, int] = {Access.READ: 1, Access.WRITE: 2, Access.ADMIN: 3}


def effective_permissions(grants: Iterable[tuple[str, Access]]) -> dict[str, Access]:
    """Union over the member's groups; per path the highest access (admin > write > read)."""
    best: dict[str, Access] = {}
    for path, access in grants:
        if path not in best or ACCESS_RANK[access] > ACCESS_RANK[best[path]]:
            best[path] = access
    return dict(sorted(best.items()))
