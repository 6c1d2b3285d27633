"""What the Members and Groups pages show, read in one transaction per page, and the
words each refusal or provisioning problem is shown in."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from reconciler import admin, rules
from reconciler.admin_store import GroupView
from reconciler.errors import RuleRefusal
from reconciler.invitations import Invitation, InvitationState
from reconciler.model import ActualMember, IdpKind, MemberStatus, TenantPolicy
from storage.clock import utcnow
from storage.schema import tenants
from storage.workspace import members_page
from storage.workspace.invitations import invitation_unit_of_work

TABS = ("active", "pending", "deactivated", "provisioning")

IDP_LABELS: dict[IdpKind, str] = {
    IdpKind.OKTA: "Okta",
    IdpKind.ENTRA: "Microsoft Entra ID",
    IdpKind.GOOGLE: "Google Workspace",
    IdpKind.ONELOGIN: "OneLogin",
    IdpKind.JUMPCLOUD: "JumpCloud",
    IdpKind.PING: "Ping Identity",
    IdpKind.GENERIC: "your identity provider",
}

# code -> (what happened, how to fix it), in the admin's words.
PROBLEM_WORDS: dict[str, tuple[str, str]] = {
    "email_conflict": (
        "Two people claim the same email address",
        "Give each person their own email in your identity provider, or remove the duplicate.",
    ),
    "no_email": (
        "A user has no email address",
        "Add a primary email to the user in your identity provider.",
    ),
    "group_name_taken": (
        "A group name is already in use",
        "Rename one of the two groups in your identity provider.",
    ),
    "groups_not_supported": (
        "Groups are not provisioned from this identity provider",
        "Google Workspace provisions users only: manage groups here, in the workspace.",
    ),
    "last_admin": (
        "The last active admin was kept active",
        "Make another member an admin, then deactivate this person in your identity provider"
        " again.",
    ),
    "owner_protected": (
        "The workspace Owner was not removed",
        "SCIM never deletes the Owner; transfer ownership first if they should leave.",
    ),
    "scim_disabled": (
        "Provisioning was off when this arrived",
        "Enable SCIM again; your identity provider will send the change again.",
    ),
}
UNKNOWN_PROBLEM = (
    "A change could not be applied",
    "Check this user or group in your identity provider; an operator can replay it once fixed.",
)


@dataclass(frozen=True)
class MemberRowView:
    member: ActualMember
    name: str
    managed_by: str | None
    last_synced: datetime | None
    delete_refusal: str | None
    invitation: Invitation | None
    invitation_state: InvitationState | None
    is_admin: bool


@dataclass(frozen=True)
class ProblemView:
    title: str
    fix: str
    detail: str
    resource: str
    at: datetime
    source: str


@dataclass
class MembersPage:
    tenant_id: str
    workspace: str
    policy: TenantPolicy
    tab: str
    counts: dict[str, int]
    billed: int
    rows: list[MemberRowView] = field(default_factory=list)
    problems: list[ProblemView] = field(default_factory=list)
    paused: bool = False
    active_admins: int = 0
    idp_label: str = ""


def refusal_of(check: Any, *args: Any) -> str | None:
    try:
        check(*args)
    except RuleRefusal as refused:
        return refused.detail
    return None


def members_page_data(engine: Engine, tenant_id: str, tab: str) -> MembersPage:
    now = utcnow()
    with invitation_unit_of_work(engine, write=False) as store:
        policy = admin.load_policy(store, tenant_id)
        found = store.member_counts(tenant_id)
        counts = {s.value: found.get(s, 0) for s in rules.MEMBER_TABS}
        problems = members_page.problems(store.conn, tenant_id)
        counts["provisioning"] = len(problems)
        workspace = _workspace_name(store, tenant_id)
        label = IDP_LABELS[policy.idp]
        page = MembersPage(
            tenant_id,
            workspace,
            policy,
            tab,
            counts,
            billed=sum(found.get(s, 0) for s in rules.BILLABLE_STATUSES),
            idp_label=label,
        )
        page.paused = _paused(store, tenant_id, policy)
        page.active_admins = sum(
            1
            for row in members_page.member_rows(store.conn, tenant_id, MemberStatus.ACTIVE)
            if rules.is_admin(row.member, policy)
        )
        if tab == "provisioning":
            page.problems = [_problem(p) for p in problems]
            return page
        invitations = store.open_invitations(tenant_id)
        for row in members_page.member_rows(store.conn, tenant_id, MemberStatus(tab)):
            m = row.member
            invitation = invitations.get(m.id)
            page.rows.append(
                MemberRowView(
                    member=m,
                    name=m.display_name or m.email,
                    managed_by=label if m.scim_managed else None,
                    last_synced=row.last_synced,
                    delete_refusal=refusal_of(rules.check_admin_delete_member, m, policy),
                    invitation=invitation,
                    invitation_state=invitation.state(now) if invitation else None,
                    is_admin=rules.is_admin(m, policy),
                )
            )
    return page


@dataclass(frozen=True)
class WorkspaceHeader:
    """What the navigation bar of every admin page shows."""

    tenant_id: str
    workspace: str
    paused: bool


def workspace_header(engine: Engine, tenant_id: str) -> WorkspaceHeader:
    with invitation_unit_of_work(engine, write=False) as store:
        policy = admin.load_policy(store, tenant_id)
        return WorkspaceHeader(
            tenant_id, _workspace_name(store, tenant_id), _paused(store, tenant_id, policy)
        )


def _paused(store: Any, tenant_id: str, policy: TenantPolicy) -> bool:
    """SCIM is off while SSO stays: SCIM-managed members and groups are locked, and say so."""
    return (
        policy.sso_configured
        and not policy.scim_enabled
        and members_page.scim_managed_count(store.conn, tenant_id) > 0
    )


def _workspace_name(store: Any, tenant_id: str) -> str:
    name = store.conn.execute(select(tenants.c.name).where(tenants.c.id == tenant_id)).scalar()
    return str(name or tenant_id)


def _problem(problem: members_page.Problem) -> ProblemView:
    title, fix = PROBLEM_WORDS.get(problem.code, UNKNOWN_PROBLEM)
    return ProblemView(title, fix, problem.detail, problem.resource, problem.at, problem.source)


@dataclass(frozen=True)
class GroupRowView:
    view: GroupView
    locked_reason: str | None  # rename, delete and membership changes refused, and why


@dataclass
class GroupsPage:
    tenant_id: str
    workspace: str
    groups: list[GroupRowView]
    members: list[ActualMember]
    paused: bool


def groups_page_data(engine: Engine, tenant_id: str) -> GroupsPage:
    with invitation_unit_of_work(engine, write=False) as store:
        policy = admin.load_policy(store, tenant_id)
        views = admin.list_groups(store, tenant_id=tenant_id)
        people = store.list_members(tenant_id, None)
        paused = _paused(store, tenant_id, policy)
        workspace = _workspace_name(store, tenant_id)
    rows = [GroupRowView(v, refusal_of(rules.check_admin_rename_group, v.group)) for v in views]
    return GroupsPage(tenant_id, workspace, rows, people, paused)
