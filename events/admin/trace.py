"""`GET /api/v1/workspaces/{tenant_id}/trace?q=WHO`: the provisioning trace, paged.

Thin: the admin token (events/admin/routes.py), one read (storage/trace.py), the page
(reconciler/trace.py), the response model. Nobody matching `q` is a 404.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from events.admin.routes import Admin
from reconciler import trace as core
from storage import trace
from storage.db import unit_of_work

router = APIRouter(prefix="/api/v1/workspaces/{tenant_id}", tags=["admin"])


class SubjectOut(BaseModel):
    kind: str  # person | group
    label: str  # the email or the group name
    scim_id: str | None  # the IdP's id for it
    member_id: str | None  # the workspace member (or group) id
    matched_by: str  # email | userName | scim_id | externalId | member_id | group name


class EntryOut(BaseModel):
    at: datetime
    kind: str  # request | workspace | refused | reconcile | admin
    what: str
    cause: str | None
    rule: int | None  # the workspace rule (§4 of the docs) that decided it
    refs: dict[str, Any]  # event_id, request_id, method, path, status, lag_seconds, ...


class TracePage(BaseModel):
    subject: SubjectOut
    summary: str  # the current state in one sentence
    entries: list[EntryOut]  # oldest first
    total: int
    next_cursor: str | None  # pass as ?cursor= for the next page; null at the end

    @classmethod
    def of(cls, page: core.Page) -> TracePage:
        return cls.model_validate(page, from_attributes=True)


@router.get("/trace")
def trace_lookup(
    ctx: Admin,
    q: Annotated[str, Query(min_length=1, max_length=320)],
    limit: Annotated[int, Query(ge=1, le=core.MAX_PAGE)] = core.DEFAULT_PAGE,
    cursor: Annotated[str | None, Query(max_length=20)] = None,
) -> TracePage:
    with unit_of_work(ctx.engine, write=False) as conn:
        timeline = trace.trace(conn, ctx.tenant_id, q)
    return TracePage.of(core.page(timeline, cursor, limit))
