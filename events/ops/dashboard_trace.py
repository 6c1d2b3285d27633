"""`/dashboard/trace?tenant=T&q=WHO`: the provisioning trace on the operator dashboard.

The same timeline as `scimsync trace` and the admin API (storage/trace.py), behind the
operator token; `format=json` (or an Accept of JSON) gives the page's data. This is also
the stable link target for a member row: `/dashboard/trace?tenant=T&q=<member email>`.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from events.http_errors import plain_error
from events.ops.dashboard import (
    _access,
    _api_refusal,
    _html_refusal,
    _json,
    _page,
    _wants_json,
)
from events.runtime import Runtime, runtime
from reconciler import trace as core
from reconciler.errors import NotFound
from storage import tenants, trace
from storage.db import unit_of_work

router = APIRouter(prefix="/dashboard", include_in_schema=False)


def _lookup(
    rt: Runtime, tenant: str | None, q: str | None, cursor: str | None
) -> tuple[list[Any], core.Page | None, str | None]:
    """(tenants for the search box, the page or None, what went wrong or None)."""
    with unit_of_work(rt.engine, write=False) as conn:
        known = [{"id": t.id, "name": t.name} for t in tenants.list_all(conn)]
        if not tenant or not q:
            return known, None, None
        try:
            return known, core.page(trace.trace(conn, tenant, q[:320]), cursor), None
        except NotFound as missing:
            return known, None, missing.detail


@router.get("/trace")
def trace_page(
    request: Request,
    tenant: str | None = None,
    q: str | None = None,
    cursor: str | None = None,
    format: str | None = None,
    rt: Runtime = Depends(runtime),
) -> Response:
    as_json = _wants_json(request, format)
    access = _access(request, rt)
    refusal = _api_refusal(access) if as_json else _html_refusal(access)
    if refusal is not None:
        return refusal
    known, found, error = _lookup(rt, tenant, q, cursor)
    if as_json:
        if found is None:
            return plain_error(404, "not_found", error or "give tenant= and q=")
        return _json({"tenant_id": tenant, **asdict(found)})
    return _page(
        "dashboard_trace.html",
        404 if error else 200,
        page=found,
        error=error,
        trace_tenants=known,
        trace_tenant=tenant,
        trace_q=q,
    )
