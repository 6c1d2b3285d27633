"""The admin API (the workspace's Members page): `/api/v1/workspaces/{tenant_id}/...`.

Thin: authenticate, parse, call one service (reconciler/admin.py, sso.py) in one unit
of work, format. The CLI calls the same services, so both refuse and audit the same
things. `RuleRefusal`s and other `Refusal`s become responses in events/http_errors.py;
nothing is mapped here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import structlog
from fastapi import APIRouter, Body, Depends, Query, Request
from sqlalchemy import Engine

from events import guard
from events.admin import models as m
from events.runtime import Runtime, runtime, runtime_of
from events.scim_api.context import bearer
from reconciler import admin, invitations, sso
from reconciler.errors import Unauthorized
from reconciler.model import MemberStatus
from storage import tenants
from storage.clock import utcnow
from storage.db import unit_of_work
from storage.workspace.admin_store import admin_unit_of_work
from storage.workspace.invitations import invitation_unit_of_work

router = APIRouter(prefix="/api/v1/workspaces/{tenant_id}", tags=["admin"])


@dataclass(frozen=True)
class AdminContext:
    tenant_id: str
    actor: str  # the admin token's id: the audit log's "who"
    engine: Engine


def admin_context(request: Request, tenant_id: str) -> AdminContext:
    """401 for a missing or revoked token, and for another tenant's token."""
    rt = runtime_of(request)
    engine = rt.engine
    guard.refuse_blocked_source(request, rt)
    try:
        with unit_of_work(engine, write=False) as conn:
            token_id = tenants.verify_token(conn, tenant_id, "admin", bearer(request))
    except Unauthorized:
        guard.refused(request, rt)  # charged to the client's address, never the tenant
    structlog.contextvars.bind_contextvars(tenant_id=tenant_id, token_id=token_id)
    request.state.tenant_id = tenant_id
    return AdminContext(tenant_id, token_id, engine)


Admin = Annotated[AdminContext, Depends(admin_context)]

# --- members ----------------------------------------------------------------------------


MAX_MEMBERS_PAGE = 1000


@router.get("/members")
def list_members(
    ctx: Admin,
    status: MemberStatus | None = None,
    after: Annotated[str | None, Query(max_length=320)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_MEMBERS_PAGE)] = 100,
) -> m.MemberList:
    """A page of members by email; `next_after` is the next page's `after` (None: the end).
    Paged so that one request never reads and renders a whole 100,000-member workspace."""
    with admin_unit_of_work(ctx.engine, write=False) as store:
        found, counts = admin.list_members(
            store, tenant_id=ctx.tenant_id, status=status, after=after, limit=limit
        )
    return m.MemberList.of(
        found, counts, next_after=found[-1].email_ci if len(found) == limit else None
    )


@router.get("/members/{member_id}")
def get_member(ctx: Admin, member_id: str) -> m.MemberDetailOut:
    with admin_unit_of_work(ctx.engine, write=False) as store:
        detail = admin.get_member(store, tenant_id=ctx.tenant_id, member_id=member_id)
    return m.MemberDetailOut.of_detail(detail)


@router.post("/members", status_code=201)
def invite_member(
    ctx: Admin, body: m.InviteRequest, rt: Runtime = Depends(runtime)
) -> m.MemberDetailOut:
    """A pending member and the invitation mail (queued once the transaction commits)."""
    with invitation_unit_of_work(ctx.engine) as store:
        detail = admin.invite_member(
            store,
            tenant_id=ctx.tenant_id,
            email=body.email,
            display_name=body.display_name,
            actor=ctx.actor,
        )
        sent = invitations.request_send(
            store,
            tenant_id=ctx.tenant_id,
            member_id=detail.member.id,
            actor=ctx.actor,
            now=utcnow(),
        )
    rt.send_invitation(ctx.tenant_id, sent.id)
    return m.MemberDetailOut.of_detail(detail)


@router.post("/members/{member_id}/accept-invitation")
def accept_invitation(
    ctx: Admin, member_id: str, body: m.AcceptInvitationRequest
) -> m.MemberDetailOut:
    with admin_unit_of_work(ctx.engine) as store:
        detail = admin.accept_invitation(
            store, tenant_id=ctx.tenant_id, member_id=member_id, actor=ctx.actor
        )
    return m.MemberDetailOut.of_detail(detail)


@router.delete("/members/{member_id}", status_code=204)
def delete_member(ctx: Admin, member_id: str) -> None:
    with admin_unit_of_work(ctx.engine) as store:
        admin.delete_member(store, tenant_id=ctx.tenant_id, member_id=member_id, actor=ctx.actor)


# --- groups -----------------------------------------------------------------------------


@router.get("/groups")
def list_groups(ctx: Admin) -> m.GroupList:
    with admin_unit_of_work(ctx.engine, write=False) as store:
        views = admin.list_groups(store, tenant_id=ctx.tenant_id)
    return m.GroupList(groups=[m.GroupOut.of(v) for v in views])


@router.post("/groups", status_code=201)
def create_group(ctx: Admin, body: m.GroupRequest) -> m.GroupOut:
    with admin_unit_of_work(ctx.engine) as store:
        view = admin.create_group(store, tenant_id=ctx.tenant_id, name=body.name, actor=ctx.actor)
    return m.GroupOut.of(view)


@router.patch("/groups/{group_id}")
def rename_group(ctx: Admin, group_id: str, body: m.GroupRequest) -> m.GroupOut:
    with admin_unit_of_work(ctx.engine) as store:
        view = admin.rename_group(
            store, tenant_id=ctx.tenant_id, group_id=group_id, name=body.name, actor=ctx.actor
        )
    return m.GroupOut.of(view)


@router.delete("/groups/{group_id}", status_code=204)
def delete_group(ctx: Admin, group_id: str) -> None:
    with admin_unit_of_work(ctx.engine) as store:
        admin.delete_group(store, tenant_id=ctx.tenant_id, group_id=group_id, actor=ctx.actor)


@router.put("/groups/{group_id}/members/{member_id}", status_code=204)
def add_group_member(ctx: Admin, group_id: str, member_id: str) -> None:
    with admin_unit_of_work(ctx.engine) as store:
        admin.add_group_member(
            store, tenant_id=ctx.tenant_id, group_id=group_id, member_id=member_id, actor=ctx.actor
        )


@router.delete("/groups/{group_id}/members/{member_id}", status_code=204)
def remove_group_member(ctx: Admin, group_id: str, member_id: str) -> None:
    with admin_unit_of_work(ctx.engine) as store:
        admin.remove_group_member(
            store, tenant_id=ctx.tenant_id, group_id=group_id, member_id=member_id, actor=ctx.actor
        )


@router.put("/groups/{group_id}/permissions")
def set_group_permissions(
    ctx: Admin, group_id: str, body: Annotated[m.PermissionList, Body()]
) -> m.GroupOut:
    grants = [(grant.path, grant.access) for grant in body]
    with admin_unit_of_work(ctx.engine) as store:
        view = admin.set_group_permissions(
            store, tenant_id=ctx.tenant_id, group_id=group_id, grants=grants, actor=ctx.actor
        )
    return m.GroupOut.of(view)


# --- billing, SSO, SCIM, the login check, the audit log ----------------------------------


@router.get("/billing")
def billing(ctx: Admin) -> m.Billing:
    with admin_unit_of_work(ctx.engine, write=False) as store:
        return m.Billing(billed_members=admin.billed_members(store, tenant_id=ctx.tenant_id))


@router.put("/sso")
def configure_sso(
    ctx: Admin, body: m.SsoRequest, rt: Annotated[Runtime, Depends(runtime)]
) -> m.SsoOut:
    with admin_unit_of_work(ctx.engine) as store:
        policy = sso.configure_sso(
            store,
            tenant_id=ctx.tenant_id,
            domains=body.domains,
            provider=body.provider,
            actor=ctx.actor,
        )
    rt.credentials.forget(ctx.tenant_id)  # the SCIM requests after this see the new tenant
    return m.SsoOut.of(policy, body.provider)


@router.delete("/sso")
def remove_sso(ctx: Admin, rt: Annotated[Runtime, Depends(runtime)]) -> m.SsoRemoval:
    with admin_unit_of_work(ctx.engine) as store:
        report = sso.remove_sso(store, tenant_id=ctx.tenant_id, actor=ctx.actor)
    rt.credentials.forget(ctx.tenant_id)  # its SCIM tokens stop working now, not in a second
    return m.SsoRemoval.of(report)


@router.post("/scim", status_code=201)
def enable_scim(ctx: Admin, rt: Annotated[Runtime, Depends(runtime)]) -> m.ScimEnabled:
    with admin_unit_of_work(ctx.engine) as store:
        issued = sso.enable_scim(store, tenant_id=ctx.tenant_id, actor=ctx.actor)
    rt.credentials.forget(ctx.tenant_id)
    base_url = f"{rt.settings.base_url}/scim/v2/{ctx.tenant_id}"
    return m.ScimEnabled(token=issued.token, base_url=base_url)


@router.delete("/scim", status_code=204)
def disable_scim(ctx: Admin, rt: Annotated[Runtime, Depends(runtime)]) -> None:
    with admin_unit_of_work(ctx.engine) as store:
        sso.disable_scim(store, tenant_id=ctx.tenant_id, actor=ctx.actor)
    rt.credentials.forget(ctx.tenant_id)


@router.get("/access")
def login_check(
    ctx: Admin, email: Annotated[str, Query(min_length=1, max_length=320)]
) -> m.AccessCheck:
    with admin_unit_of_work(ctx.engine, write=False) as store:
        allowed, reason = admin.check_access(store, tenant_id=ctx.tenant_id, email=email)
    return m.AccessCheck(allowed=allowed, reason=reason)


@router.get("/audit")
def audit_log(ctx: Admin, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> m.AuditLog:
    with admin_unit_of_work(ctx.engine, write=False) as store:
        entries = admin.list_audit(store, tenant_id=ctx.tenant_id, limit=limit)
    return m.AuditLog(entries=[m.AuditEntryOut.of(e) for e in entries])
