"""An IdP's write that the ingest refused, kept for the provisioning trace.

A refused PUT, PATCH or DELETE of a user or group changes nothing and makes no change
event, so without this the trace would not show that Okta tried to move Alice onto
Bob's address and was answered 409. The refusal is noted on the request while its
answer is built (`remember`), and one audit row is written after the answer has gone
out (`keep`): the IdP never waits for it, and a failure to write it is logged, never
answered. Only what the IdP's own token may see is kept: the authenticated tenant, the
resource in the path, the status, the SCIM type and the detail (never a body or header).
"""

from __future__ import annotations

from typing import Any

import anyio
import structlog
from sqlalchemy import Engine
from starlette.requests import Request
from starlette.types import Scope

from storage import audit
from storage.db import unit_of_work

log = structlog.get_logger(__name__)

KEPT_STATUSES = frozenset({400, 409, 412})  # refusals of the change itself, not of access
WRITE_METHODS = frozenset({"PUT", "PATCH", "DELETE"})
_KINDS = {"Users": "User", "Groups": "Group"}
_STATE_KEY = "ingest_refusal"
DETAIL_WIDTH = 500


def remember(request: Request, status: int, detail: str, scim_type: str | None) -> None:
    if status in KEPT_STATUSES and request.method in WRITE_METHODS:
        request.state.ingest_refusal = (status, scim_type, detail[:DETAIL_WIDTH])


def _resource(path: str, tenant_id: str) -> tuple[str, str] | None:
    """(User | Group, id) of `/scim/v2/<tenant>/Users/<id>`; None for any other path."""
    parts = path.split("/")
    if len(parts) != 6 or parts[:3] != ["", "scim", "v2"] or parts[3] != tenant_id:
        return None
    kind = _KINDS.get(parts[4])
    return (kind, parts[5]) if kind and parts[5] else None


def entry_for(scope: Scope, request_id: str) -> audit.AuditEntry | None:
    state: dict[str, Any] = scope.get("state") or {}
    refused, tenant_id = state.get(_STATE_KEY), state.get("tenant_id")
    if refused is None or not tenant_id:  # not refused, or not by an authenticated IdP
        return None
    resource = _resource(scope["path"], tenant_id)
    if resource is None:
        return None
    kind, resource_id = resource
    status, scim_type, detail = refused
    return audit.AuditEntry(
        tenant_id,
        actor="idp",
        action="ingest_refusal",
        target=audit.refused_change_target(kind, resource_id),
        detail={
            "status": status,
            "scim_type": scim_type,
            "detail": detail,
            "request_id": request_id,
            "method": scope["method"],
            "path": f"/scim/v2/{kind}s/{resource_id}"[:300],
        },
    )


async def keep(scope: Scope, request_id: str, engine: Engine) -> None:
    entry = entry_for(scope, request_id)
    if entry is not None:
        await anyio.to_thread.run_sync(_write, engine, entry)


def _write(engine: Engine, entry: audit.AuditEntry) -> None:
    try:
        with unit_of_work(engine) as conn:
            audit.record(conn, [entry])
    except Exception as exc:  # the IdP has its answer; the trace loses one line
        log.warning("ingest_refusal_not_kept", error=type(exc).__name__)
