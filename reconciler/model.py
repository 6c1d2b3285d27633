"""The workspace domain as plain data: statuses, policy, desired/actual views, actions.

Everything here is immutable and free of I/O. The planner turns a snapshot
(desired = the IdP's mirror, actual = the workspace) into a list of actions; the
storage layer applies them. `RuleViolation` is the error the planner raises: a
workspace rule (docs/architecture.md, section 4) forbids what the IdP asked. Callers map it
at their edge: the SCIM API to a refusal, the worker to a dead letter (its event
can never apply as it stands). Admin requests are refused with
`reconciler.errors.RuleRefusal` instead (reconciler/rules.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar, Literal

ResourceType = Literal["User", "Group"]
ResourceKey = tuple[ResourceType, str]  # (resource type, mirror id)


class RuleViolation(Exception):
    """A workspace rule refuses the request or event. `code` is stable and machine-readable."""

    def __init__(self, code: str, detail: str):
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


class DependsOn(Exception):
    """The planner needs another resource applied first (`key`), then this one re-planned."""

    def __init__(self, key: ResourceKey):
        super().__init__(f"apply {key[0]} {key[1]} first")
        self.key = key


class MemberStatus(StrEnum):
    ACTIVE = "active"
    PENDING = "pending"
    DEACTIVATED = "deactivated"


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"


class Access(StrEnum):
    """A group's access to a folder path; `rules.ACCESS_RANK` orders them."""

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


class IdpKind(StrEnum):
    OKTA = "okta"
    ENTRA = "entra"
    GOOGLE = "google"
    ONELOGIN = "onelogin"
    JUMPCLOUD = "jumpcloud"
    PING = "ping"
    GENERIC = "generic"


@dataclass(frozen=True)
class TenantPolicy:
    tenant_id: str
    idp: IdpKind = IdpKind.GENERIC
    sso_domains: frozenset[str] = frozenset()  # lower-cased
    sso_configured: bool = False
    scim_enabled: bool = False
    owner_email: str | None = None  # lower-cased


# --- desired: the IdP's view (mirror rows) -------------------------------------


@dataclass(frozen=True)
class DesiredUser:
    scim_id: str
    email_ci: str | None  # the rule-2 email, lower-cased
    email: str | None  # the same address as the IdP spelled it, for display
    display_name: str | None
    active: bool
    has_password: bool
    version: int


@dataclass(frozen=True)
class DesiredGroup:
    scim_id: str
    display_name: str
    version: int


# --- actual: the workspace -----------------------------------------------------


@dataclass(frozen=True)
class ActualMember:
    id: str
    email: str
    email_ci: str
    status: MemberStatus
    display_name: str | None = None
    status_before_deactivation: MemberStatus | None = None
    role: Role = Role.MEMBER
    has_password: bool = False
    scim_user_id: str | None = None

    @property
    def scim_managed(self) -> bool:
        return self.scim_user_id is not None


@dataclass(frozen=True)
class ActualGroup:
    id: str
    name: str
    scim_group_id: str | None = None

    @property
    def scim_managed(self) -> bool:
        return self.scim_group_id is not None


@dataclass(frozen=True)
class AdminSeat:
    """An active admin of the workspace, and whether the IdP keeps them active (a native
    admin, or one whose SCIM user is active)."""

    member_id: str
    owner: bool
    idp_active: bool
    scim_user_id: str | None = None


# --- snapshots: one resource's desired and actual side, as the planner sees it ----


@dataclass(frozen=True)
class UserSnapshot:
    scim_id: str
    desired: DesiredUser | None  # None: the IdP deleted the user
    linked: ActualMember | None = None  # the member whose scim_user_id is scim_id
    email_holder: ActualMember | None = None  # another member holding the desired email
    # the SCIM user `email_holder` is linked to no longer claims this email (deleted, moved)
    email_holder_released: bool = False
    membership_drift: int = 0  # SCIM memberships of `linked` missing or extra
    applied_version: int | None = None
    # the workspace's active admins (Owner, role admin); loaded only when `linked` or
    # `email_holder` is an admin or the user has the Owner's email (the last-admin guard)
    active_admins: frozenset[AdminSeat] = frozenset()


@dataclass(frozen=True)
class GroupSnapshot:
    scim_id: str
    desired: DesiredGroup | None  # None: the IdP deleted the group
    actual: ActualGroup | None = None  # the workspace group whose scim_group_id is scim_id
    taken_names: frozenset[str] = frozenset()  # lower-cased names in use that could clash
    membership_drift: int = 0  # SCIM memberships of `actual` missing or extra


# --- actions: one frozen dataclass per kind; `kind` names it in counts and audit ----


@dataclass(frozen=True)
class CreateMember:
    kind: ClassVar[str] = "create_member"
    member_id: str
    scim_user_id: str
    email: str
    display_name: str | None
    status: MemberStatus
    status_before_deactivation: MemberStatus | None
    has_password: bool


@dataclass(frozen=True)
class LinkMember:
    """Rule 2: an existing member becomes SCIM-managed."""

    kind: ClassVar[str] = "link_member"
    member_id: str
    scim_user_id: str


@dataclass(frozen=True)
class UnlinkMember:
    """The member stops being SCIM-managed (Owner on IdP delete, SSO removal)."""

    kind: ClassVar[str] = "unlink_member"
    member_id: str


@dataclass(frozen=True)
class SetMemberStatus:
    kind: ClassVar[str] = "set_member_status"
    member_id: str
    status: MemberStatus
    status_before_deactivation: MemberStatus | None


@dataclass(frozen=True)
class UpdateMemberProfile:
    kind: ClassVar[str] = "update_member_profile"
    member_id: str
    email: str
    display_name: str | None
    has_password: bool


@dataclass(frozen=True)
class DeleteMember:
    """The member leaves the workspace; memberships and invitations go with it."""

    kind: ClassVar[str] = "delete_member"
    member_id: str
    email: str


@dataclass(frozen=True)
class CreateInvitation:
    """An invitation for a pending member, unless one is already open."""

    kind: ClassVar[str] = "create_invitation"
    member_id: str
    email: str


@dataclass(frozen=True)
class SyncUserMemberships:
    """Make this member's SCIM memberships equal what the mirror groups say (set-based)."""

    kind: ClassVar[str] = "sync_user_memberships"
    member_id: str


@dataclass(frozen=True)
class CreateGroup:
    kind: ClassVar[str] = "create_group"
    group_id: str
    scim_group_id: str
    name: str


@dataclass(frozen=True)
class RenameGroup:
    kind: ClassVar[str] = "rename_group"
    group_id: str
    name: str


@dataclass(frozen=True)
class DeleteGroup:
    """A SCIM group leaves the workspace with its memberships and permissions."""

    kind: ClassVar[str] = "delete_group"
    group_id: str
    name: str


@dataclass(frozen=True)
class UnlinkGroup:
    """The group stops being SCIM-managed (SCIM disconnected): native, renamed to `name`,
    its members kept as native memberships."""

    kind: ClassVar[str] = "unlink_group"
    group_id: str
    name: str


@dataclass(frozen=True)
class SyncGroupMembers:
    """Make this group's SCIM memberships equal its mirror members who are linked members."""

    kind: ClassVar[str] = "sync_group_members"
    group_id: str


@dataclass(frozen=True)
class RecordRefusal:
    """The IdP asked for something a rule forbids (the Owner); nothing changes but the audit."""

    kind: ClassVar[str] = "refusal"
    member_id: str
    scim_user_id: str
    code: str
    detail: str


Action = (
    CreateMember
    | LinkMember
    | UnlinkMember
    | SetMemberStatus
    | UpdateMemberProfile
    | DeleteMember
    | CreateInvitation
    | SyncUserMemberships
    | CreateGroup
    | RenameGroup
    | DeleteGroup
    | UnlinkGroup
    | SyncGroupMembers
    | RecordRefusal
)


def action_target(action: Action) -> str:
    """The audit-log target of an action: `member:<id>` or `group:<id>`."""
    member_id = getattr(action, "member_id", None)
    return f"member:{member_id}" if member_id else f"group:{getattr(action, 'group_id', '')}"


@dataclass
class ApplyOutcome:
    """What one `apply_resources` call did.

    `counts`: actions applied per kind (a membership sync that changed nothing is
    not counted); `memberships_added`/`memberships_removed`: rows changed by the
    set-based syncs; `refusals`: rule refusals recorded (the Owner); `applied`:
    (key, mirror version) per key applied, version 0 when the IdP deleted the
    resource; `violations`: keys that can never apply as they stand (dead-letter
    them), by key; `rounds`: planning rounds (keys touching the same member,
    email or group name within a batch are applied in successive rounds).
    """

    counts: dict[str, int] = field(default_factory=dict)
    memberships_added: int = 0
    memberships_removed: int = 0
    refusals: list[RecordRefusal] = field(default_factory=list)
    applied: list[tuple[ResourceKey, int]] = field(default_factory=list)
    violations: dict[ResourceKey, RuleViolation] = field(default_factory=dict)
    rounds: int = 0
