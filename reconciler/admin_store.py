"""What the admin services (reconciler/admin.py, sso.py, workspaces.py) need from storage,
and the views they return.

`AdminStore` is implemented over SQL by `storage.workspace.admin_store.SqlAdminStore`
and in memory by the unit tests' fake. Implementations work inside the caller's
transaction and never commit. A store made for writes locks the tenant row in
`load_policy`, so an admin action and a worker apply of one tenant never
interleave; the services call `load_policy` before anything else.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from reconciler.apply import AppliedStats
from reconciler.model import (
    Access,
    Action,
    ActualGroup,
    ActualMember,
    MemberStatus,
    TenantPolicy,
)
from reconciler.rules import StatusPair

TokenKind = Literal["scim", "admin", "webhook", "okta_hook", "operator"]

# --- views ----------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedToken:
    """A new bearer token: `token` is shown once, only its hash is stored."""

    id: str
    token: str


@dataclass(frozen=True)
class WorkspaceCreated:
    id: str
    name: str
    idp: str
    sso_domains: tuple[str, ...]
    owner_email: str | None
    admin_token: str  # shown once


@dataclass(frozen=True)
class WorkspaceSummary:
    """A workspace as `scimsync tenant list|show` shows it."""

    id: str
    name: str
    idp: str
    sso_domains: tuple[str, ...]
    sso_configured: bool
    scim_enabled: bool
    owner_email: str | None
    options: dict[str, Any]
    created_at: datetime
    members: dict[MemberStatus, int]  # every status, 0 included
    groups: int


@dataclass(frozen=True)
class GroupLink:
    """One of a member's groups, and whether the IdP or an admin put the member there."""

    id: str
    name: str
    scim_managed: bool
    source: str  # scim | native


@dataclass(frozen=True)
class MemberDetail:
    member: ActualMember
    groups: list[GroupLink]
    permissions: dict[str, Access]  # effective: the best access any group gives, per path
    can_login: bool
    login_reason: str


@dataclass(frozen=True)
class GroupView:
    group: ActualGroup
    member_count: int
    permissions: dict[str, Access]


@dataclass(frozen=True)
class AuditRecord:
    """One row of the audit log as the admin reads it."""

    id: int
    actor: str
    action: str
    target: str | None
    detail: dict[str, Any]
    at: datetime


# --- the interface ------------------------------------------------------------------------


class AdminStore(Protocol):
    # --- reads

    def load_policy(self, tenant_id: str) -> TenantPolicy | None:
        """The tenant's policy (None: no such tenant); a write store locks the tenant row."""

    def find_member(
        self, tenant_id: str, *, member_id: str | None = None, email: str | None = None
    ) -> ActualMember | None:
        """One member by id, or else by email (case-insensitive)."""

    def list_members(
        self,
        tenant_id: str,
        status: MemberStatus | None,
        *,
        after: str | None = None,
        limit: int | None = None,
    ) -> list[ActualMember]:
        """Members with that status (all when None), ordered by email: those whose
        lower-cased email sorts after `after`, at most `limit` of them."""

    def member_counts(self, tenant_id: str) -> dict[MemberStatus, int]:
        """How many members have each status (statuses without members may be missing)."""

    def member_groups(self, tenant_id: str, member_id: str) -> list[GroupLink]:
        """The member's groups, ordered by name."""

    def member_grants(self, tenant_id: str, member_id: str) -> list[tuple[str, Access]]:
        """Every (path, access) that any of the member's groups grants."""

    def find_group(self, tenant_id: str, group_id: str) -> ActualGroup | None: ...

    def list_groups(self, tenant_id: str, group_id: str | None = None) -> list[GroupView]:
        """Every group (or only `group_id`) by name, with member count and permissions."""

    def group_names_taken(self, tenant_id: str, name: str, *, other_than: str = "") -> set[str]:
        """Lower-cased names of groups other than `other_than` that `name` clashes with."""

    def audit_entries(self, tenant_id: str, *, limit: int) -> list[AuditRecord]:
        """The newest `limit` audit rows of the tenant, newest first."""

    def scim_group_pages(self, tenant_id: str) -> Iterator[list[ActualGroup]]:
        """SCIM-managed groups, a page at a time; each page is read after the previous one
        was applied (rows may change between pages)."""

    def sso_removal_member_pages(self, tenant_id: str) -> Iterator[list[ActualMember]]:
        """Members that rule 11 may change (SCIM-managed or deactivated), a page at a time."""

    def workspaces(self, tenant_id: str | None = None) -> list[WorkspaceSummary]:
        """Every workspace (or only `tenant_id`) by name, with member and group counts."""

    def sso_domain_owners(self, domains: Sequence[str], *, other_than: str = "") -> dict[str, str]:
        """Which of `domains` (lower-cased) another workspace with SSO on already has: domain
        -> that workspace's id."""

    # --- writes

    def apply(self, tenant_id: str, actions: Sequence[Action], actor: str) -> AppliedStats:
        """The workspace's one write path for planned actions; one audit row per action."""

    def create_workspace(
        self, *, name: str, idp: str, sso_domains: Sequence[str], owner_email: str | None
    ) -> WorkspaceCreated:
        """A tenant with SSO configured (when given domains), its admin token and, when
        named, its Owner (active, with a password)."""

    def insert_member(self, tenant_id: str, member: ActualMember) -> None:
        """A native member as given (no SCIM user)."""

    def open_invitation(self, tenant_id: str, member_id: str, email: str) -> None: ...

    def accept_invitation(self, tenant_id: str, member_id: str, status: StatusPair) -> None:
        """The member's status becomes `status`, a password is set, open invitations close."""

    def create_group(self, tenant_id: str, *, group_id: str, name: str) -> None:
        """A native group."""

    def add_group_member(self, tenant_id: str, group_id: str, member_id: str) -> bool:
        """A native membership; False when the member was already in the group."""

    def remove_group_member(self, tenant_id: str, group_id: str, member_id: str) -> bool:
        """False when the member was not in the group."""

    def set_group_permissions(
        self, tenant_id: str, group_id: str, grants: Sequence[tuple[str, Access]]
    ) -> None:
        """Replaces the group's permissions."""

    def configure_sso(self, tenant_id: str, *, domains: Sequence[str], provider: str) -> None:
        """SSO on with these verified domains and provider, replacing any earlier ones."""

    def set_idp(self, tenant_id: str, idp: str) -> None: ...

    def set_options(self, tenant_id: str, options: Mapping[str, Any]) -> None:
        """Replaces the tenant's options."""

    def remove_sso_configuration(self, tenant_id: str) -> None:
        """SSO off (the domains are kept, unverified)."""

    def enable_scim(self, tenant_id: str) -> IssuedToken:
        """SCIM on, earlier SCIM tokens revoked, a new one issued."""

    def disable_scim(self, tenant_id: str) -> int:
        """SCIM off and its tokens revoked; returns how many were live."""

    def revoke_webhook_secrets(self, tenant_id: str) -> int:
        """Every webhook signing key and Okta hook secret revoked; how many were live."""

    def rotate_token(self, tenant_id: str, kind: TokenKind) -> IssuedToken:
        """A new token of `kind`; every earlier one stops working at once."""

    def audit(
        self,
        tenant_id: str,
        *,
        actor: str,
        action: str,
        target: str,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        """One audit-log row."""
