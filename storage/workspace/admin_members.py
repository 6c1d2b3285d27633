"""The admin API's service functions (the workspace's Members page).

Admin actions are immediate (no pipeline). Each function takes the request's
Connection (the route's unit of work commits), checks the workspace rules of
reconciler/rules.py, writes, and records one audit_log row whose actor is the
admin token's id. Writes first lock the tenant row (`load_policy`), so an admin
action and a worker apply of the same tenant never interleave. Unknown ids
raise `NotFound` (404); rule refusals raise `RuleViolation` (409).

Groups and permissions: storage/workspace/admin_groups.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from reconciler import rules
from reconciler.cascade import CascadeReport
from reconciler.errors import NotFound
from reconciler.model import (
    Access,
    ActualMember,
    DeleteMember,
    MemberStatus,
    Role,
    TenantPolicy,
)
from storage import tenants
from storage.clock import as_utc, new_id, utcnow
from storage.schema import (
    audit_log,
    group_memberships,
    group_permissions,
    invitations,
    members,
    workspace_groups,
)
from storage.workspace.reads import count_billable_members, find_member, list_members
from storage.workspace.sso import run_sso_removal
from storage.workspace.store import SqlWorkspaceStore

_m, _wg, _gm, _gp = members, workspace_groups, group_memberships, group_permissions


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
    permissions: dict[str, Access]
    can_login: bool
    login_reason: str


@dataclass(frozen=True)
class AuditEntry:
    id: int
    actor: str
    action: str
    target: str | None
    detail: dict[str, Any]
    at: datetime


# --- shared helpers (also used by workspace_admin_groups) ---------------------------------


def load_policy(conn: Connection, tenant_id: str, *, lock: bool = True) -> TenantPolicy:
    """The tenant's policy; `lock` takes the tenant row for the rest of the transaction."""
    policy = SqlWorkspaceStore(conn, lock_tenant=lock).load_policy(tenant_id)
    if policy is None:
        raise NotFound(f"workspace {tenant_id} not found")
    return policy


def get_member(conn: Connection, tenant_id: str, member_id: str) -> ActualMember:
    member = find_member(conn, tenant_id, member_id=member_id)
    if member is None:
        raise NotFound(f"member {member_id} not found")
    return member


def audit(
    conn: Connection, tenant_id: str, actor: str, action: str, target: str, **detail: Any
) -> None:
    conn.execute(
        insert(audit_log).values(
            tenant_id=tenant_id,
            actor=actor,
            action=action,
            target=target,
            detail=detail,
            at=utcnow(),
        )
    )


# --- members (rules 3, 6, 9) ---------------------------------------------------------------


def members_by_status(
    conn: Connection, tenant_id: str, status: MemberStatus | None
) -> tuple[list[ActualMember], dict[MemberStatus, int]]:
    """One tab of the member list (all members when `status` is None) and every tab's count."""
    found: dict[str, int] = dict(
        conn.execute(
            select(_m.c.status, func.count())
            .where(_m.c.tenant_id == tenant_id)
            .group_by(_m.c.status)
        )
        .tuples()
        .all()
    )
    counts = {tab: int(found.get(tab.value, 0)) for tab in rules.MEMBER_TABS}
    return list_members(conn, tenant_id, status), counts


def member_detail(conn: Connection, tenant_id: str, member_id: str) -> MemberDetail:
    """Groups, effective permissions (kept while deactivated, rule 4) and the login check."""
    member = get_member(conn, tenant_id, member_id)
    policy = load_policy(conn, tenant_id, lock=False)
    in_group = (_gm.c.tenant_id == _wg.c.tenant_id) & (_gm.c.group_id == _wg.c.id)
    groups = conn.execute(
        select(_wg.c.id, _wg.c.name, _wg.c.scim_group_id, _gm.c.source)
        .join(_gm, in_group)
        .where(_gm.c.tenant_id == tenant_id, _gm.c.member_id == member_id)
        .order_by(_wg.c.name_ci)
    ).all()
    grants = (
        conn.execute(
            select(_gp.c.path, _gp.c.access)
            .join(_gm, (_gm.c.tenant_id == _gp.c.tenant_id) & (_gm.c.group_id == _gp.c.group_id))
            .where(_gm.c.tenant_id == tenant_id, _gm.c.member_id == member_id)
        )
        .tuples()
        .all()
    )
    allowed, reason = rules.can_login(member, policy)
    return MemberDetail(
        member=member,
        groups=[GroupLink(g.id, g.name, g.scim_group_id is not None, g.source) for g in groups],
        permissions=rules.effective_permissions((path, Access(a)) for path, a in grants),
        can_login=allowed,
        login_reason=reason,
    )


def invite_member(
    conn: Connection, tenant_id: str, *, email: str, display_name: str | None, actor: str
) -> MemberDetail:
    """A new native member, pending until the invitation is accepted."""
    load_policy(conn, tenant_id)
    rules.check_admin_invite(find_member(conn, tenant_id, email=email))
    member_id, now = new_id(), utcnow()
    conn.execute(
        insert(_m).values(
            tenant_id=tenant_id,
            id=member_id,
            email=email,
            email_ci=email.lower(),
            display_name=display_name,
            status=MemberStatus.PENDING.value,
            role=Role.MEMBER.value,
            has_password=False,
            created_at=now,
            updated_at=now,
        )
    )
    conn.execute(
        insert(invitations).values(
            tenant_id=tenant_id, id=new_id(), member_id=member_id, email=email, created_at=now
        )
    )
    audit(conn, tenant_id, actor, "invite_member", f"member:{member_id}", email=email)
    return member_detail(conn, tenant_id, member_id)


def accept_invitation(
    conn: Connection, tenant_id: str, member_id: str, *, actor: str
) -> MemberDetail:
    """Rule 3: the pending member sets a password and becomes active."""
    load_policy(conn, tenant_id)
    rules.check_accept_invitation(get_member(conn, tenant_id, member_id))
    now = utcnow()
    conn.execute(
        update(_m)
        .where(_m.c.tenant_id == tenant_id, _m.c.id == member_id)
        .values(
            status=MemberStatus.ACTIVE.value,
            status_before_deactivation=None,
            has_password=True,
            updated_at=now,
        )
    )
    conn.execute(
        update(invitations)
        .where(
            invitations.c.tenant_id == tenant_id,
            invitations.c.member_id == member_id,
            invitations.c.accepted_at.is_(None),
        )
        .values(accepted_at=now)
    )
    audit(conn, tenant_id, actor, "accept_invitation", f"member:{member_id}")
    return member_detail(conn, tenant_id, member_id)


def delete_member(conn: Connection, tenant_id: str, member_id: str, *, actor: str) -> None:
    """Rule 6: never a SCIM-managed member (manage it in the IdP), never the Owner."""
    policy = load_policy(conn, tenant_id)
    member = get_member(conn, tenant_id, member_id)
    rules.check_admin_delete_member(member, policy)
    SqlWorkspaceStore(conn).apply(tenant_id, [DeleteMember(member.id, member.email_ci)], actor)


# --- billing and the login check (rules 8 and 4) -------------------------------------------


def billed_members(conn: Connection, tenant_id: str) -> int:
    return count_billable_members(conn, tenant_id)


def login_check(conn: Connection, tenant_id: str, email: str) -> tuple[bool, str]:
    policy = load_policy(conn, tenant_id, lock=False)
    return rules.can_login(find_member(conn, tenant_id, email=email), policy)


# --- SSO and SCIM (rules 1 and 11) -----------------------------------------------------------


def configure_sso(
    conn: Connection, tenant_id: str, *, domains: list[str], provider: str, actor: str
) -> tenants.Tenant:
    """Verified email domains and the provider; replaces any earlier configuration."""
    load_policy(conn, tenant_id)
    clean = sorted({d.strip().lower() for d in domains})
    tenant = tenants.update_fields(
        conn, tenant_id, sso_domains=clean, sso_provider=provider, sso_configured=True
    )
    audit(
        conn,
        tenant_id,
        actor,
        "configure_sso",
        f"tenant:{tenant_id}",
        domains=clean,
        provider=provider,
    )
    return tenant


def remove_sso(conn: Connection, tenant_id: str, *, actor: str) -> CascadeReport:
    """Rule 11: SCIM off, its tokens revoked, and the cascade (audited action by action)."""
    rules.check_sso_removal(load_policy(conn, tenant_id))
    report = run_sso_removal(conn, tenant_id, actor=actor)
    audit(
        conn,
        tenant_id,
        actor,
        "remove_sso",
        f"tenant:{tenant_id}",
        counts=report.counts,
        tokens_revoked=report.tokens_revoked,
    )
    return report


def enable_scim(conn: Connection, tenant_id: str, *, actor: str) -> tenants.IssuedToken:
    """Rule 1: only with SSO configured; the token is returned once and stored as a hash."""
    rules.check_admin_enable_scim(load_policy(conn, tenant_id))
    issued = tenants.enable_scim(conn, tenant_id)
    audit(conn, tenant_id, actor, "enable_scim", f"tenant:{tenant_id}", token_id=issued.id)
    return issued


def disable_scim(conn: Connection, tenant_id: str, *, actor: str) -> None:
    """Revokes the SCIM tokens; members and groups stay as they are (and stay SCIM-managed)."""
    load_policy(conn, tenant_id)
    tenants.disable_scim(conn, tenant_id)
    audit(conn, tenant_id, actor, "disable_scim", f"tenant:{tenant_id}")


# --- the audit log ---------------------------------------------------------------------------


def audit_entries(conn: Connection, tenant_id: str, *, limit: int) -> list[AuditEntry]:
    """The newest `limit` entries of this tenant, newest first."""
    rows = conn.execute(
        select(audit_log)
        .where(audit_log.c.tenant_id == tenant_id)
        .order_by(audit_log.c.id.desc())
        .limit(limit)
    )
    return [
        AuditEntry(r.id, r.actor, r.action, r.target, dict(r.detail or {}), as_utc(r.at))
        for r in rows
    ]
