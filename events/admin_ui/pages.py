"""The workspace admin's pages: `/workspaces/{tenant_id}/members` and `/groups`.

Thin like the admin API: authenticate (the admin token as a bearer header, or the login
session made from it), parse the form, call the same service the API and CLI call, in
one unit of work, then redirect (POST, redirect, GET). A rule's refusal is shown on the
page in the rule's words, with status 409.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from events.admin_ui import view
from events.admin_ui.session import (
    COOKIE_NAME,
    SESSION_SECONDS,
    AdminSession,
    LoginRequired,
    authenticate,
    end_session,
    log_in,
    start_session,
)
from events.runtime import Runtime, runtime, runtime_of
from events.web_security import cookie_secure, revoke_session, session_revoked, throttle_login
from reconciler import admin, invitations, sso
from reconciler.errors import NotFound, RateLimited, RuleRefusal
from reconciler.model import Access
from storage.clock import utcnow
from storage.workspace.invitations import invitation_unit_of_work

router = APIRouter(prefix="/workspaces/{tenant_id}", tags=["admin pages"])
MAX_FORM_BYTES = 16 * 1024

templates = Environment(
    loader=PackageLoader("events.admin_ui", "templates"), autoescape=select_autoescape(["html"])
)
templates.filters["when"] = lambda v: f"{v:%Y-%m-%d %H:%M} UTC" if v else "never"


def page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(templates.get_template(name).render(**context), status_code=status)


def admin_session(request: Request, tenant_id: str) -> AdminSession:
    rt = runtime_of(request)
    return authenticate(request, rt.engine, tenant_id, lambda c: session_revoked(rt.redis, c))


async def form(request: Request) -> dict[str, str]:
    raw = await request.body()
    parsed = parse_qs(raw[:MAX_FORM_BYTES].decode("utf-8", "replace"))
    return {key: values[0].strip() for key, values in parsed.items()}


def login_page(error: LoginRequired) -> HTMLResponse:
    return page("login.html", 401, tenant_id=error.tenant_id)


def done(tenant_id: str, where: str, notice: str) -> RedirectResponse:
    return RedirectResponse(f"/workspaces/{tenant_id}/{where}&notice={quote(notice)}", 303)


def refused_on_members(s: AdminSession, tab: str, refused: Exception) -> HTMLResponse:
    data = view.members_page_data(s.engine, s.tenant_id, tab)
    detail = getattr(refused, "detail", str(refused))
    return page("members.html", 409, page=data, error=detail, notice=None)


def refused_on_groups(s: AdminSession, refused: Exception) -> HTMLResponse:
    data = view.groups_page_data(s.engine, s.tenant_id)
    detail = getattr(refused, "detail", str(refused))
    return page("groups.html", 409, page=data, error=detail, notice=None)


def session_or_login(request: Request, tenant_id: str) -> AdminSession | HTMLResponse:
    try:
        return admin_session(request, tenant_id)
    except LoginRequired as required:
        return login_page(required)


# --- login ---------------------------------------------------------------------------


@router.get("/login")
def login_form(tenant_id: str) -> HTMLResponse:
    return page("login.html", tenant_id=tenant_id)


@router.post("/login")
async def login(request: Request, tenant_id: str, rt: Runtime = Depends(runtime)) -> Response:
    source = request.client.host if request.client else "-"
    try:
        await run_in_threadpool(throttle_login, rt.redis, f"workspace:{tenant_id}", source)
    except RateLimited as refused:
        throttled = page("login.html", 429, tenant_id=tenant_id, error=refused.detail)
        throttled.headers["Retry-After"] = str(max(1, round(refused.retry_after)))
        return throttled
    fields = await form(request)
    value = log_in(rt.engine, tenant_id, fields.get("token", ""))
    if value is None:
        return page(
            "login.html",
            401,
            tenant_id=tenant_id,
            error="That is not this workspace's admin token.",
        )
    response = RedirectResponse(f"/workspaces/{tenant_id}/members", 303)
    start_session(
        response, tenant_id, value, secure=cookie_secure(request.url.scheme, rt.settings.base_url)
    )
    return response


@router.post("/logout")
def logout(request: Request, tenant_id: str, rt: Runtime = Depends(runtime)) -> Response:
    """Ends the session here, not only in this browser: a copy of the cookie stops working."""
    cookie = request.cookies.get(COOKIE_NAME)
    if cookie:
        revoke_session(rt.redis, cookie, SESSION_SECONDS)
    response = RedirectResponse(f"/workspaces/{tenant_id}/login", 303)
    end_session(response, tenant_id)
    return response


# --- members ----------------------------------------------------------------------------


@router.get("/members")
def members(
    request: Request, tenant_id: str, tab: str = "active", notice: str | None = None
) -> Response:
    s = session_or_login(request, tenant_id)
    if isinstance(s, HTMLResponse):
        return s
    tab = tab if tab in view.TABS else "active"
    data = view.members_page_data(s.engine, tenant_id, tab)
    return page("members.html", page=data, notice=notice, error=None)


async def _member_action(
    request: Request, tenant_id: str, tab: str, act: Callable[[AdminSession, dict[str, str]], str]
) -> Response:
    s = session_or_login(request, tenant_id)
    if isinstance(s, HTMLResponse):
        return s
    fields = await form(request)
    try:
        notice = act(s, fields)
    except (RuleRefusal, NotFound) as refused:
        return refused_on_members(s, tab, refused)
    return done(tenant_id, f"members?tab={tab}", notice)


@router.post("/members/invite")
async def invite(request: Request, tenant_id: str, rt: Runtime = Depends(runtime)) -> Response:
    sent: list[str] = []

    def act(s: AdminSession, fields: dict[str, str]) -> str:
        email = fields.get("email", "")
        if "@" not in email:
            raise RuleRefusal("invalid_email", "enter the person's email address")
        with invitation_unit_of_work(s.engine) as store:
            detail = admin.invite_member(
                store,
                tenant_id=s.tenant_id,
                email=email,
                display_name=fields.get("display_name") or None,
                actor=s.actor,
            )
            sent.append(_send(store, s, detail.member.id).id)
        return f"Invitation sent to {email}"

    response = await _member_action(request, tenant_id, "pending", act)
    for invitation_id in sent:
        rt.send_invitation(tenant_id, invitation_id)  # after commit only
    return response


def _send(store: Any, s: AdminSession, member_id: str) -> invitations.Invitation:
    return invitations.request_send(
        store, tenant_id=s.tenant_id, member_id=member_id, actor=s.actor, now=utcnow()
    )


@router.post("/members/{member_id}/send-invitation")
async def send_invitation(
    request: Request, tenant_id: str, member_id: str, rt: Runtime = Depends(runtime)
) -> Response:
    sent: list[str] = []

    def act(s: AdminSession, fields: dict[str, str]) -> str:
        with invitation_unit_of_work(s.engine) as store:
            invitation = _send(store, s, member_id)
        sent.append(invitation.id)
        return f"Invitation sent to {invitation.email}"

    response = await _member_action(request, tenant_id, "pending", act)
    for invitation_id in sent:
        rt.send_invitation(tenant_id, invitation_id)
    return response


@router.post("/members/invite-all-pending")
async def invite_all_pending(
    request: Request, tenant_id: str, rt: Runtime = Depends(runtime)
) -> Response:
    sent: list[str] = []

    def act(s: AdminSession, fields: dict[str, str]) -> str:
        with invitation_unit_of_work(s.engine) as store:
            found = invitations.request_send_all_pending(
                store, tenant_id=s.tenant_id, actor=s.actor, now=utcnow()
            )
        sent.extend(i.id for i in found)
        return f"{len(found)} invitation(s) sent"

    response = await _member_action(request, tenant_id, "pending", act)
    for invitation_id in sent:
        rt.send_invitation(tenant_id, invitation_id)
    return response


@router.post("/invitations/{invitation_id}/revoke")
async def revoke_invitation(request: Request, tenant_id: str, invitation_id: str) -> Response:
    def act(s: AdminSession, fields: dict[str, str]) -> str:
        with invitation_unit_of_work(s.engine) as store:
            invitations.revoke(
                store,
                tenant_id=s.tenant_id,
                invitation_id=invitation_id,
                actor=s.actor,
                now=utcnow(),
            )
        return "Invitation revoked"

    return await _member_action(request, tenant_id, "pending", act)


@router.post("/members/{member_id}/delete")
async def delete_member(request: Request, tenant_id: str, member_id: str) -> Response:
    def act(s: AdminSession, fields: dict[str, str]) -> str:
        with invitation_unit_of_work(s.engine) as store:
            admin.delete_member(store, tenant_id=s.tenant_id, member_id=member_id, actor=s.actor)
        return "Member deleted"

    return await _member_action(request, tenant_id, "active", act)


@router.post("/scim/pause")
async def pause(request: Request, tenant_id: str, rt: Runtime = Depends(runtime)) -> Response:
    def act(s: AdminSession, fields: dict[str, str]) -> str:
        with invitation_unit_of_work(s.engine) as store:
            sso.pause_scim(store, tenant_id=s.tenant_id, actor=s.actor)
        return "Provisioning paused: SCIM-managed members and groups stay locked"

    response = await _member_action(request, tenant_id, "active", act)
    rt.credentials.forget(tenant_id)  # the IdP's token stops working now, not in a second
    return response


@router.post("/scim/disconnect")
async def disconnect(request: Request, tenant_id: str, rt: Runtime = Depends(runtime)) -> Response:
    def act(s: AdminSession, fields: dict[str, str]) -> str:
        with invitation_unit_of_work(s.engine) as store:
            sso.disconnect_scim(store, tenant_id=s.tenant_id, actor=s.actor)
        return "SCIM disconnected: every member and group is now managed here"

    response = await _member_action(request, tenant_id, "active", act)
    rt.credentials.forget(tenant_id)
    return response


# --- groups ----------------------------------------------------------------------------------


@router.get("/groups")
def groups(request: Request, tenant_id: str, notice: str | None = None) -> Response:
    s = session_or_login(request, tenant_id)
    if isinstance(s, HTMLResponse):
        return s
    return page(
        "groups.html", page=view.groups_page_data(s.engine, tenant_id), notice=notice, error=None
    )


async def _group_action(
    request: Request, tenant_id: str, act: Callable[[AdminSession, dict[str, str]], str]
) -> Response:
    s = session_or_login(request, tenant_id)
    if isinstance(s, HTMLResponse):
        return s
    fields = await form(request)
    try:
        notice = act(s, fields)
    except (RuleRefusal, NotFound) as refused:
        return refused_on_groups(s, refused)
    return done(tenant_id, "groups?", notice)


@router.post("/groups")
async def create_group(request: Request, tenant_id: str) -> Response:
    def act(s: AdminSession, fields: dict[str, str]) -> str:
        name = fields.get("name", "")
        if not name:
            raise RuleRefusal("invalid_name", "a group needs a name")
        with invitation_unit_of_work(s.engine) as store:
            admin.create_group(store, tenant_id=s.tenant_id, name=name, actor=s.actor)
        return f"Group {name} created"

    return await _group_action(request, tenant_id, act)


@router.post("/groups/{group_id}/rename")
async def rename_group(request: Request, tenant_id: str, group_id: str) -> Response:
    def act(s: AdminSession, fields: dict[str, str]) -> str:
        name = fields.get("name", "")
        if not name:
            raise RuleRefusal("invalid_name", "a group needs a name")
        with invitation_unit_of_work(s.engine) as store:
            admin.rename_group(
                store, tenant_id=s.tenant_id, group_id=group_id, name=name, actor=s.actor
            )
        return f"Group renamed to {name}"

    return await _group_action(request, tenant_id, act)


@router.post("/groups/{group_id}/delete")
async def delete_group(request: Request, tenant_id: str, group_id: str) -> Response:
    def act(s: AdminSession, fields: dict[str, str]) -> str:
        with invitation_unit_of_work(s.engine) as store:
            admin.delete_group(store, tenant_id=s.tenant_id, group_id=group_id, actor=s.actor)
        return "Group deleted"

    return await _group_action(request, tenant_id, act)


@router.post("/groups/{group_id}/members")
async def add_group_member(request: Request, tenant_id: str, group_id: str) -> Response:
    def act(s: AdminSession, fields: dict[str, str]) -> str:
        with invitation_unit_of_work(s.engine) as store:
            admin.add_group_member(
                store,
                tenant_id=s.tenant_id,
                group_id=group_id,
                member_id=fields.get("member_id", ""),
                actor=s.actor,
            )
        return "Member added"

    return await _group_action(request, tenant_id, act)


@router.post("/groups/{group_id}/permissions")
async def add_permission(request: Request, tenant_id: str, group_id: str) -> Response:
    def act(s: AdminSession, fields: dict[str, str]) -> str:
        path, access = fields.get("path", ""), fields.get("access", "")
        if not path.startswith("/") or access not in {a.value for a in Access}:
            raise RuleRefusal("invalid_permission", "give a folder path and read, write or admin")
        with invitation_unit_of_work(s.engine) as store:
            current = store.list_groups(s.tenant_id, group_id)
            if not current:
                raise NotFound(f"group {group_id} not found")
            grants = {**current[0].permissions, path: Access(access)}
            admin.set_group_permissions(
                store,
                tenant_id=s.tenant_id,
                group_id=group_id,
                grants=sorted(grants.items()),
                actor=s.actor,
            )
        return f"{access} on {path} granted"

    return await _group_action(request, tenant_id, act)
