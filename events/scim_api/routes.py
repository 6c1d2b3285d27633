"""SCIM 2.0 resource routes: /Users and /Groups (RFC 7644 §3). Thin: parse, call, format."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from events.body import json_object
from events.http_errors import SCIM_MEDIA_TYPE
from events.ingest.dialects import dialect_for
from events.ingest.service import IngestSession, grouped_ingest, ingest_session
from events.ingest.writes import Kind, Op, WriteResult
from events.scim.attributes import select_attributes, wants_members
from events.scim.filter import (
    group_filter,
    group_sort_key,
    sort_order,
    user_filter,
    user_sort_key,
)
from events.scim.query import Query, list_response, parse_query, parse_search_body
from events.scim.resources import etag, render_group, render_user
from events.scim_api.context import ScimContext, scim_context
from reconciler.errors import NotFound
from storage import mirror, mirror_members
from storage.db import unit_of_work
from storage.mirror import MirrorResource

router = APIRouter(prefix="/scim/v2/{tenant_id}")


def scim_json(
    body: dict[str, Any], status: int = 200, version: int | None = None, location: str | None = None
) -> JSONResponse:
    headers = {}
    if version is not None:
        headers["ETag"] = etag(version)
    if location:
        headers["Location"] = location
    return JSONResponse(body, status_code=status, media_type=SCIM_MEDIA_TYPE, headers=headers)


def _members(
    conn: Connection, ctx: ScimContext, kind: str, record: MirrorResource, query: Query | None
) -> list[tuple[str, str]] | None:
    """A group's members when the answer shows them, read in the caller's transaction (the
    write's own, for a write): one transaction per request, not a second one to render."""
    if kind == "User" or not wants_members(
        query.attributes if query else None, query.excluded if query else None
    ):
        return None
    return mirror_members.members_with_types(conn, ctx.tenant.id, record.id)


def _render(
    ctx: ScimContext,
    kind: str,
    record: MirrorResource,
    query: Query | None,
    members: list[tuple[str, str]] | None,
) -> dict[str, Any]:
    attributes = query.attributes if query else None
    excluded = query.excluded if query else None
    if kind == "User":
        body = render_user(record, ctx.base_url)
    else:
        body = render_group(record, ctx.base_url, members)
    body = dialect_for(ctx.tenant.idp).shape(kind, body)  # IdP-specific response shape
    return select_attributes(body, attributes, excluded)


def scim_session(ctx: ScimContext) -> AbstractContextManager[IngestSession]:
    """The one write path (events/ingest/service.py) for this SCIM request: the tenant's
    dialect, audited as the request's token, published after commit."""
    return ingest_session(
        ctx.engine,
        ctx.tenant,
        actor=ctx.token_id,
        publish=ctx.runtime.publish,
        max_patch_operations=ctx.runtime.settings.max_patch_operations,
    )


def _write(
    ctx: ScimContext, kind: Kind, op: Op, *args: Any, query: Query | None = None, **options: Any
) -> tuple[WriteResult, list[tuple[str, str]] | None]:
    """The write, and the members its answer shows (read before the commit), in a
    transaction shared with the process's concurrent writes (group commit)."""

    def work(session: IngestSession) -> tuple[WriteResult, list[tuple[str, str]] | None]:
        result = session.write(kind, op, *args, **options)
        members = None
        if result.record is not None:
            members = _members(session.conn, ctx, kind, result.record, query)
        return result, members

    return grouped_ingest(
        ctx.runtime.writes,
        ctx.tenant,
        work,
        actor=ctx.token_id,
        publish=ctx.runtime.publish,
        max_patch_operations=ctx.runtime.settings.max_patch_operations,
    )


def _list(ctx: ScimContext, kind: str, query: Query) -> dict[str, Any]:
    compile_filter, sort_key, lister = (
        (user_filter, user_sort_key, mirror.list_users)
        if kind == "User"
        else (group_filter, group_sort_key, mirror.list_groups)
    )
    max_length = ctx.runtime.settings.max_filter_length
    where = compile_filter(query.filter, max_length=max_length) if query.filter else None
    order: list[Any] = []
    if query.sort_by:
        key = sort_key(query.sort_by)
        order = [sort_order(key, descending=query.descending)]
    with unit_of_work(ctx.engine, write=False) as conn:
        total, records = lister(
            conn,
            ctx.tenant.id,
            where=where,
            order_by=order,
            offset=query.start_index - 1,
            limit=query.count,
        )
        members_of = {r.id: _members(conn, ctx, kind, r, query) for r in records}
    return list_response(
        total, query, [_render(ctx, kind, r, query, members_of.get(r.id)) for r in records]
    )


def _get(
    ctx: ScimContext, kind: str, resource_id: str, query: Query
) -> tuple[MirrorResource, list[tuple[str, str]] | None]:
    getter = mirror.get_user if kind == "User" else mirror.get_group
    with unit_of_work(ctx.engine, write=False) as conn:
        record = getter(conn, ctx.tenant.id, resource_id)
        if record is None:
            raise NotFound(f"{kind} {resource_id} not found")
        return record, _members(conn, ctx, kind, record, query)


def _routes(kind: Kind, plural: str) -> None:
    @router.get(f"/{plural}", name=f"list_{plural}")
    def list_resources(request: Request, ctx: ScimContext = Depends(scim_context)) -> JSONResponse:
        return scim_json(
            _list(ctx, kind, parse_query(dict(request.query_params), ctx.runtime.settings))
        )

    @router.post(f"/{plural}/.search", name=f"search_{plural}")
    async def search_resources(request: Request, ctx: ScimContext = Depends(scim_context)) -> Any:
        query = parse_search_body(await json_object(request), ctx.runtime.settings)
        return scim_json(await run_in_threadpool(_list, ctx, kind, query))

    @router.post(f"/{plural}", name=f"create_{kind.lower()}")
    def create(
        ctx: ScimContext = Depends(scim_context), body: dict[str, Any] = Depends(json_object)
    ) -> JSONResponse:
        result, members = _write(ctx, kind, Op.CREATE, body)
        assert result.record is not None
        rendered = _render(ctx, kind, result.record, None, members)
        return scim_json(rendered, 201, result.record.version, rendered["meta"]["location"])

    @router.get(f"/{plural}/{{resource_id}}", name=f"get_{kind.lower()}")
    def get_one(
        resource_id: str, request: Request, ctx: ScimContext = Depends(scim_context)
    ) -> Response:
        query = parse_query(dict(request.query_params), ctx.runtime.settings)
        record, members = _get(ctx, kind, resource_id, query)
        if request.headers.get("if-none-match") in (etag(record.version), "*"):
            return Response(status_code=304, headers={"ETag": etag(record.version)})
        return scim_json(_render(ctx, kind, record, query, members), version=record.version)

    def _modify(op: Op) -> Callable[..., JSONResponse]:
        def handler(
            resource_id: str,
            request: Request,
            ctx: ScimContext = Depends(scim_context),
            body: dict[str, Any] = Depends(json_object),
        ) -> JSONResponse:
            if_match = request.headers.get("if-match")
            query = parse_query(dict(request.query_params), ctx.runtime.settings)
            result, members = _write(
                ctx, kind, op, resource_id, body, query=query, if_match=if_match
            )
            assert result.record is not None
            rendered = _render(ctx, kind, result.record, query, members)
            return scim_json(rendered, version=result.record.version)

        return handler

    router.put(f"/{plural}/{{resource_id}}", name=f"replace_{kind.lower()}")(_modify(Op.REPLACE))
    router.patch(f"/{plural}/{{resource_id}}", name=f"patch_{kind.lower()}")(_modify(Op.PATCH))

    @router.delete(f"/{plural}/{{resource_id}}", status_code=204, name=f"delete_{kind.lower()}")
    def delete(
        resource_id: str, request: Request, ctx: ScimContext = Depends(scim_context)
    ) -> Response:
        _write(ctx, kind, Op.DELETE, resource_id, if_match=request.headers.get("if-match"))
        return Response(status_code=204)


_routes(Kind.USER, "Users")
_routes(Kind.GROUP, "Groups")


@router.post("/.search", name="search_all")
async def search_all(request: Request, ctx: ScimContext = Depends(scim_context)) -> JSONResponse:
    """Root search: users, then groups, paged as one list (RFC 7644 §3.4.3)."""
    query = parse_search_body(await json_object(request), ctx.runtime.settings)
    return scim_json(await run_in_threadpool(search_both, ctx, query))


def search_both(ctx: ScimContext, query: Query) -> dict[str, Any]:
    probe = Query(query.filter, 1, 0, None, False, None, None)
    users_total = _list(ctx, "User", probe)["totalResults"]
    groups_total = _list(ctx, "Group", probe)["totalResults"]
    offset, resources = query.start_index - 1, []
    if offset < users_total:
        page = Query(
            query.filter,
            offset + 1,
            query.count,
            query.sort_by,
            query.descending,
            query.attributes,
            query.excluded,
        )
        resources = _list(ctx, "User", page)["Resources"]
    remaining = query.count - len(resources)
    if remaining > 0:
        group_offset = max(0, offset - users_total)
        page = Query(
            query.filter,
            group_offset + 1,
            remaining,
            query.sort_by,
            query.descending,
            query.attributes,
            query.excluded,
        )
        resources += _list(ctx, "Group", page)["Resources"]
    return list_response(users_total + groups_total, query, resources)
