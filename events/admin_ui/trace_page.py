"""`/workspaces/{tenant_id}/trace?q=WHO`: the Timeline page, for the workspace admin.

The same timeline as `scimsync trace`, the admin API and the operator dashboard
(storage/trace.py, reconciler/trace.py), behind the admin's login. Each row of the
Members and Groups pages links here, so "why is Alice pending?" is one click.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from events.admin_ui import view
from events.admin_ui.pages import page, session_or_login
from reconciler import trace as core
from reconciler.errors import InvalidValue, NotFound
from storage import trace
from storage.db import unit_of_work

router = APIRouter(prefix="/workspaces/{tenant_id}", tags=["admin pages"])

# What a person types in the search box: an email, a userName, an id or a group name.
MAX_QUERY = 320
MAX_CURSOR = 20


@router.get("/trace")
def timeline(
    request: Request, tenant_id: str, q: str | None = None, cursor: str | None = None
) -> Response:
    s = session_or_login(request, tenant_id)
    if isinstance(s, HTMLResponse):
        return s
    header = view.workspace_header(s.engine, tenant_id)
    query = (q or "").strip()[:MAX_QUERY]
    if not query:
        return page("trace.html", page=header, q="", found=None, missing=None)
    try:
        with unit_of_work(s.engine, write=False) as conn:
            found = core.page(trace.trace(conn, tenant_id, query), (cursor or "")[:MAX_CURSOR])
    except NotFound as missing:
        return page("trace.html", 404, page=header, q=query, found=None, missing=missing.detail)
    except InvalidValue as bad:
        return page("trace.html", 400, page=header, q=query, found=None, missing=bad.detail)
    return page("trace.html", page=header, q=query, found=found, missing=None)
