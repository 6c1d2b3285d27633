"""An in-memory `AdminStore` for the services' unit tests: what the SQL store does, in dicts.

`audit_log` holds (actor, action, target, detail) in order, including one entry per
applied action as the SQL store's `apply` writes them; `applied` holds the actions.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from itertools import count
from typing import Any

from reconciler.admin_store import (
    AuditRecord,
    GroupLink,
    GroupView,
    IssuedToken,
    TokenKind,
    WorkspaceCreated,
    WorkspaceSummary,
)
from reconciler.apply import AppliedStats
from reconciler.model import (
    Access,
    Action,
    ActualGroup,
    ActualMember,
    CreateInvitation,
    DeleteGroup,
    DeleteMember,
    IdpKind,
    MemberStatus,
    RenameGroup,
    Role,
    SetMemberStatus,
    TenantPolicy,
    UnlinkMember,
    action_target,
)
from reconciler.rules import StatusPair

AuditRow = tuple[str, str, str, dict[str, Any]]  # actor, action, target, detail


@dataclass
class FakeAdminStore:
    policy: TenantPolicy | None = None
    members: dict[str, ActualMember] = field(default_factory=dict)
    groups: dict[str, ActualGroup] = field(default_factory=dict)
    memberships: dict[tuple[str, str], str] = field(default_factory=dict)  # (group, member)
    permissions: dict[str, dict[str, Access]] = field(default_factory=dict)
    invitations: dict[str, str] = field(default_factory=dict)  # open ones: member id -> email
    tokens: dict[TokenKind, list[str]] = field(default_factory=dict)  # live token ids
    audit_log: list[AuditRow] = field(default_factory=list)
    applied: list[Action] = field(default_factory=list)
    page_size: int = 2
    # SSO domains of the other workspaces (domain -> tenant id), for the one-owner check
    other_domains: dict[str, str] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=lambda: count(1))

    @property
    def tenant_id(self) -> str:
        assert self.policy is not None
        return self.policy.tenant_id

    def _policy_of(self, tenant_id: str) -> TenantPolicy:
        assert self.policy is not None and self.policy.tenant_id == tenant_id
        return self.policy

    # --- reads ---------------------------------------------------------------------------

    def workspaces(self, tenant_id: str | None = None) -> list[WorkspaceSummary]:
        policy = self.policy
        if policy is None or tenant_id not in (None, policy.tenant_id):
            return []
        found = self.member_counts(policy.tenant_id)
        return [
            WorkspaceSummary(
                policy.tenant_id,
                "Acme",
                policy.idp.value,
                tuple(sorted(policy.sso_domains)),
                policy.sso_configured,
                policy.scim_enabled,
                policy.owner_email,
                self.options,
                datetime(2026, 1, 1, tzinfo=UTC),
                {status: found.get(status, 0) for status in MemberStatus},
                len(self.groups),
            )
        ]

    def sso_domain_owners(self, domains: Sequence[str], *, other_than: str = "") -> dict[str, str]:
        held = dict(self.other_domains)
        if self.policy is not None and self.policy.sso_configured:
            held |= dict.fromkeys(self.policy.sso_domains, self.policy.tenant_id)
        return {d: t for d, t in held.items() if d in domains and t != other_than}

    def load_policy(self, tenant_id: str) -> TenantPolicy | None:
        ours = self.policy is not None and self.policy.tenant_id == tenant_id
        return self.policy if ours else None

    def find_member(
        self, tenant_id: str, *, member_id: str | None = None, email: str | None = None
    ) -> ActualMember | None:
        if member_id is not None:
            return self.members.get(member_id)
        return next((m for m in self.members.values() if m.email_ci == (email or "").lower()), None)

    def list_members(
        self,
        tenant_id: str,
        status: MemberStatus | None,
        *,
        after: str | None = None,
        limit: int | None = None,
    ) -> list[ActualMember]:
        found = [m for m in self.members.values() if status is None or m.status is status]
        found = [m for m in found if after is None or m.email_ci > after]
        return sorted(found, key=lambda m: m.email_ci)[:limit]

    def member_counts(self, tenant_id: str) -> dict[MemberStatus, int]:
        counts: dict[MemberStatus, int] = {}
        for member in self.members.values():
            counts[member.status] = counts.get(member.status, 0) + 1
        return counts

    def member_groups(self, tenant_id: str, member_id: str) -> list[GroupLink]:
        links = [
            GroupLink(g, self.groups[g].name, self.groups[g].scim_managed, source)
            for (g, m), source in self.memberships.items()
            if m == member_id
        ]
        return sorted(links, key=lambda link: link.name.lower())

    def member_grants(self, tenant_id: str, member_id: str) -> list[tuple[str, Access]]:
        return [
            grant
            for (g, m) in self.memberships
            if m == member_id
            for grant in self.permissions.get(g, {}).items()
        ]

    def find_group(self, tenant_id: str, group_id: str) -> ActualGroup | None:
        return self.groups.get(group_id)

    def list_groups(self, tenant_id: str, group_id: str | None = None) -> list[GroupView]:
        chosen = [g for g in self.groups.values() if group_id is None or g.id == group_id]
        return [
            GroupView(
                g,
                sum(1 for (gid, _) in self.memberships if gid == g.id),
                dict(sorted(self.permissions.get(g.id, {}).items())),
            )
            for g in sorted(chosen, key=lambda g: g.name.lower())
        ]

    def group_names_taken(self, tenant_id: str, name: str, *, other_than: str = "") -> set[str]:
        return {
            g.name.lower()
            for g in self.groups.values()
            if g.name.lower() == name.lower() and g.id != other_than
        }

    def audit_entries(self, tenant_id: str, *, limit: int) -> list[AuditRecord]:
        at = datetime(2026, 1, 1, tzinfo=UTC)
        rows = list(enumerate(self.audit_log, start=1))[::-1][:limit]
        return [AuditRecord(i, a, act, t, d, at) for i, (a, act, t, d) in rows]

    def _pages(self, items: list[Any]) -> Iterator[list[Any]]:
        for start in range(0, len(items), self.page_size):
            yield items[start : start + self.page_size]

    def scim_group_pages(self, tenant_id: str) -> Iterator[list[ActualGroup]]:
        yield from self._pages(sorted((g for g in self.groups.values() if g.scim_managed), key=_id))

    def sso_removal_member_pages(self, tenant_id: str) -> Iterator[list[ActualMember]]:
        affected = [
            m
            for m in self.members.values()
            if m.scim_managed or m.status is MemberStatus.DEACTIVATED
        ]
        yield from self._pages(sorted(affected, key=_id))

    # --- writes --------------------------------------------------------------------------

    def apply(self, tenant_id: str, actions: Sequence[Action], actor: str) -> AppliedStats:
        stats = AppliedStats()
        for action in actions:
            if not self._apply_one(action):
                continue
            self.applied.append(action)
            stats.counts[action.kind] = stats.counts.get(action.kind, 0) + 1
            self.audit_log.append((actor, action.kind, action_target(action), {}))
        return stats

    def _apply_one(self, action: Action) -> bool:
        if isinstance(action, DeleteMember):
            del self.members[action.member_id]
            self.invitations.pop(action.member_id, None)
            self.memberships = {
                k: v for k, v in self.memberships.items() if k[1] != action.member_id
            }
        elif isinstance(action, DeleteGroup):
            del self.groups[action.group_id]
            self.permissions.pop(action.group_id, None)
            self.memberships = {
                k: v for k, v in self.memberships.items() if k[0] != action.group_id
            }
        elif isinstance(action, RenameGroup):
            self.groups[action.group_id] = replace(self.groups[action.group_id], name=action.name)
        elif isinstance(action, UnlinkMember):
            member = self.members[action.member_id]
            self.members[action.member_id] = replace(member, scim_user_id=None)
        elif isinstance(action, SetMemberStatus):
            member = self.members[action.member_id]
            self.members[action.member_id] = replace(
                member,
                status=action.status,
                status_before_deactivation=action.status_before_deactivation,
            )
        elif isinstance(action, CreateInvitation):
            if action.member_id in self.invitations:
                return False  # one open invitation is enough, as in SQL
            self.invitations[action.member_id] = action.email
        else:
            raise NotImplementedError(action)
        return True

    def create_workspace(
        self, *, name: str, idp: str, sso_domains: Sequence[str], owner_email: str | None
    ) -> WorkspaceCreated:
        domains = tuple(sorted({d.strip().lower() for d in sso_domains if d.strip()}))
        owner = owner_email.lower() if owner_email else None
        tenant_id = f"t{next(self._ids)}"
        self.policy = TenantPolicy(
            tenant_id, IdpKind(idp), frozenset(domains), bool(domains), False, owner
        )
        if owner_email:
            member = ActualMember(
                f"m{next(self._ids)}",
                owner_email,
                owner_email.lower(),
                MemberStatus.ACTIVE,
                role=Role.OWNER,
                has_password=True,
            )
            self.insert_member(tenant_id, member)
        admin = self.rotate_token(tenant_id, "admin")
        return WorkspaceCreated(tenant_id, name, idp, domains, owner, admin.token)

    def insert_member(self, tenant_id: str, member: ActualMember) -> None:
        assert member.id not in self.members
        self.members[member.id] = member

    def open_invitation(self, tenant_id: str, member_id: str, email: str) -> None:
        self.invitations[member_id] = email

    def accept_invitation(self, tenant_id: str, member_id: str, status: StatusPair) -> None:
        self.members[member_id] = replace(
            self.members[member_id],
            status=status[0],
            status_before_deactivation=status[1],
            has_password=True,
        )
        self.invitations.pop(member_id, None)

    def create_group(self, tenant_id: str, *, group_id: str, name: str) -> None:
        self.groups[group_id] = ActualGroup(group_id, name)

    def add_group_member(self, tenant_id: str, group_id: str, member_id: str) -> bool:
        if (group_id, member_id) in self.memberships:
            return False
        self.memberships[(group_id, member_id)] = "native"
        return True

    def remove_group_member(self, tenant_id: str, group_id: str, member_id: str) -> bool:
        return self.memberships.pop((group_id, member_id), None) is not None

    def set_group_permissions(
        self, tenant_id: str, group_id: str, grants: Sequence[tuple[str, Access]]
    ) -> None:
        self.permissions[group_id] = dict(grants)

    def configure_sso(self, tenant_id: str, *, domains: Sequence[str], provider: str) -> None:
        policy = self._policy_of(tenant_id)
        self.policy = replace(policy, sso_domains=frozenset(domains), sso_configured=True)

    def set_idp(self, tenant_id: str, idp: str) -> None:
        self.policy = replace(self._policy_of(tenant_id), idp=IdpKind(idp))

    def set_options(self, tenant_id: str, options: Mapping[str, Any]) -> None:
        self.options = dict(options)

    def remove_sso_configuration(self, tenant_id: str) -> None:
        self.policy = replace(self._policy_of(tenant_id), sso_configured=False)

    def enable_scim(self, tenant_id: str) -> IssuedToken:
        self.policy = replace(self._policy_of(tenant_id), scim_enabled=True)
        return self.rotate_token(tenant_id, "scim")

    def disable_scim(self, tenant_id: str) -> int:
        self.policy = replace(self._policy_of(tenant_id), scim_enabled=False)
        return len(self.tokens.pop("scim", []))

    def revoke_webhook_secrets(self, tenant_id: str) -> int:
        return len(self.tokens.pop("webhook", [])) + len(self.tokens.pop("okta_hook", []))

    def rotate_token(self, tenant_id: str, kind: TokenKind) -> IssuedToken:
        token_id = f"{kind}-{next(self._ids)}"
        self.tokens[kind] = [token_id]
        return IssuedToken(token_id, f"secret-{token_id}")

    def audit(
        self,
        tenant_id: str,
        *,
        actor: str,
        action: str,
        target: str,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        self.audit_log.append((actor, action, target, dict(detail or {})))

    # --- helpers for tests -------------------------------------------------------------------

    def actions_audited(self) -> list[tuple[str, str]]:
        return [(action, target) for _, action, target, _ in self.audit_log]


def _id(item: ActualMember | ActualGroup) -> str:
    return item.id


def workspace(
    *,
    sso: bool = True,
    scim: bool = True,
    owner_email: str = "boss@acme.test",
    page_size: int = 2,
) -> FakeAdminStore:
    """A tenant "t" with the Owner (native, active, with a password) and a live admin token."""
    policy = TenantPolicy(
        "t",
        sso_domains=frozenset({"acme.test"}),
        sso_configured=sso,
        scim_enabled=scim,
        owner_email=owner_email,
    )
    store = FakeAdminStore(policy=policy, page_size=page_size)
    owner = ActualMember(
        "owner", owner_email, owner_email, MemberStatus.ACTIVE, role=Role.OWNER, has_password=True
    )
    store.insert_member("t", owner)
    store.tokens["admin"] = ["admin-0"]
    if scim:
        store.tokens["scim"] = ["scim-0"]
    return store
