"""The operator dashboard: `/dashboard` (HTML) and its JSON twins under `/dashboard/api`.

Thin routes: check the operator token (events/ops/dashboard_auth.py), read the figures
(events/ops/dashboard_data.py), render. The page is server-rendered; its script re-fetches
the page every few seconds and swaps the figures in, so there is one rendering path.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from events.body import json_object
from events.http_errors import plain_error
from events.ops import dashboard_data, formats
from events.ops.dashboard_auth import (
    COOKIE_NAME,
    DISABLED_MESSAGE,
    SESSION_SECONDS,
    Access,
    check,
    end_session,
    forged_write,
    operator_token,
    same_secret,
    start_session,
)
from events.ops.drift_chart import drift_chart
from events.params import SQL_INT_MAX, RowIdPath
from events.runtime import Runtime, runtime
from events.web_security import cookie_secure, revoke_session, session_revoked, throttle_login
from reconciler.errors import InvalidValue, RateLimited

router = APIRouter(prefix="/dashboard", include_in_schema=False)
REFRESH_SECONDS = 5
# Up to this many tenants, the overview shows each one's section under the fleet table;
# past it, only the table, and each tenant's section is on its own page (?tenant=).
FLEET_SECTIONS = 3
MAX_LOGIN_BODY = 4096
MAX_REPLAY_IDS = 10_000


templates = Environment(
    loader=PackageLoader("events.ops", "templates"), autoescape=select_autoescape(["html"])
)
templates.filters.update(age=formats.age, when=formats.when, percent=lambda rate: f"{rate:.0%}")


def _page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    body = templates.get_template(name).render(refresh_seconds=REFRESH_SECONDS, **context)
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


def _html_refusal(access: Access) -> HTMLResponse | None:
    if access is Access.DISABLED:
        return _page("dashboard_login.html", 403, disabled=DISABLED_MESSAGE)
    if access is Access.DENIED:
        return _page("dashboard_login.html", 401)
    return None


def _api_refusal(access: Access) -> JSONResponse | None:
    if access is Access.DISABLED:
        return plain_error(403, "dashboard_disabled", DISABLED_MESSAGE)
    if access is Access.DENIED:
        return plain_error(
            401,
            "unauthorized",
            "send the operator token as a Bearer token",
            headers={"WWW-Authenticate": 'Bearer realm="scim-sync"'},
        )
    return None


def _json(value: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(
        jsonable_encoder(value), status_code=status, headers={"Cache-Control": "no-store"}
    )


def _access(request: Request, rt: Runtime) -> Access:
    return check(
        request,
        operator_token(rt.settings.operator_token),
        lambda cookie: session_revoked(rt.redis, cookie),
    )


def _summary(rt: Runtime, tenant: str | None) -> dict[str, Any]:
    sample_seconds = rt.settings.pipeline_sample_seconds
    return dashboard_data.summary(rt.engine, rt.operations, tenant, sample_seconds)


@router.get("")
def dashboard(
    request: Request, tenant: str | None = None, rt: Runtime = Depends(runtime)
) -> Response:
    refusal = _html_refusal(_access(request, rt))
    if refusal is not None:
        return refusal
    figures = _summary(rt, tenant)
    return _page(
        "dashboard.html",
        summary=figures,
        tenant_filter=tenant,
        fleet_sections=FLEET_SECTIONS,
        sample_seconds=rt.settings.pipeline_sample_seconds,
    )


@router.post("/login")
async def login(request: Request, rt: Runtime = Depends(runtime)) -> Response:
    token = operator_token(rt.settings.operator_token)
    if token is None:
        return _page("dashboard_login.html", 403, disabled=DISABLED_MESSAGE)
    source = request.client.host if request.client else "-"
    try:
        await run_in_threadpool(throttle_login, rt.redis, "dashboard", source)
    except RateLimited as refused:
        page = _page("dashboard_login.html", 429, error=refused.detail)
        page.headers["Retry-After"] = str(max(1, round(refused.retry_after)))
        return page
    raw = await request.body()
    form = parse_qs(raw[:MAX_LOGIN_BODY].decode("utf-8", "replace"))
    presented = (form.get("token") or [""])[0].strip()
    if not presented or not same_secret(presented, token):
        return _page("dashboard_login.html", 401, error="That is not the operator token.")
    response = RedirectResponse("/dashboard", status_code=303)
    start_session(response, token, secure=cookie_secure(request.url.scheme, rt.settings.base_url))
    return response


@router.post("/logout")
def logout(request: Request, rt: Runtime = Depends(runtime)) -> Response:
    """Ends the session here, not only in this browser: a copy of the cookie stops working."""
    cookie = request.cookies.get(COOKIE_NAME)
    if cookie:
        revoke_session(rt.redis, cookie, SESSION_SECONDS)
    response = RedirectResponse("/dashboard", status_code=303)
    end_session(response)
    return response


@router.get("/api/summary")
def summary(
    request: Request, tenant: str | None = None, rt: Runtime = Depends(runtime)
) -> Response:
    refusal = _api_refusal(_access(request, rt))
    if refusal is not None:
        return refusal
    figures = _summary(rt, tenant)
    if tenant is not None and not figures["tenants"]:
        return plain_error(404, "not_found", f"tenant {tenant} not found")
    return _json(figures)


def _replay_request(body: dict[str, Any]) -> tuple[list[int] | None, str | None]:
    ids, tenant_id = body.get("ids"), body.get("tenant_id")
    if ids is not None and (
        not isinstance(ids, list)
        or len(ids) > MAX_REPLAY_IDS
        or not all(
            isinstance(i, int) and not isinstance(i, bool) and 1 <= i <= SQL_INT_MAX for i in ids
        )
    ):
        raise InvalidValue(f"ids must be a list of at most {MAX_REPLAY_IDS} dead letter ids")
    if tenant_id is not None and not isinstance(tenant_id, str):
        raise InvalidValue("tenant_id must be a string")
    return ids, tenant_id


@router.post("/api/dead-letters/replay")
async def replay(request: Request, rt: Runtime = Depends(runtime)) -> Response:
    """Body `{}` replays every dead letter, `{"tenant_id"}` a tenant's, `{"ids"}` those."""
    access = _access(request, rt)
    refusal = _api_refusal(access)
    if refusal is not None:
        return refusal
    if forged_write(request, access):
        return plain_error(403, "json_required", "send the replay request as application/json")
    ids, tenant_id = _replay_request(await json_object(request))
    replayed = await run_in_threadpool(
        dashboard_data.replay, rt.engine, rt.operations, ids, tenant_id
    )
    return _json(replayed)


def _wants_json(request: Request, format: str | None) -> bool:
    if format is not None:
        return format == "json"
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


@router.get("/runs/{run_id}")
def run_report(
    request: Request,
    run_id: RowIdPath,
    format: str | None = None,
    kind: Annotated[list[str] | None, Query()] = None,
    rt: Runtime = Depends(runtime),
) -> Response:
    as_json = _wants_json(request, format)
    access = _access(request, rt)
    refusal = _api_refusal(access) if as_json else _html_refusal(access)
    if refusal is not None:
        return refusal
    report = dashboard_data.run_report(rt.engine, run_id, kind or ())
    if report is None:
        return (
            plain_error(404, "not_found", f"reconcile run {run_id} not found")
            if as_json
            else _page("dashboard_run.html", 404, report=None, run_id=run_id)
        )
    return _json(report) if as_json else _page("dashboard_run.html", report=report, run_id=run_id)


@router.get("/tenants/{tenant_id}/drift")
def drift(
    request: Request, tenant_id: str, format: str | None = None, rt: Runtime = Depends(runtime)
) -> Response:
    """A tenant's Drift page: its last reconcile runs, drift per run, links to the items."""
    as_json = _wants_json(request, format)
    access = _access(request, rt)
    refusal = _api_refusal(access) if as_json else _html_refusal(access)
    if refusal is not None:
        return refusal
    page = dashboard_data.drift_page(rt.engine, tenant_id)
    if page is None:
        return plain_error(404, "not_found", f"tenant {tenant_id} not found")
    if as_json:
        return _json(page)
    return _page("dashboard_drift.html", drift=page, chart=drift_chart(page["runs"]))
