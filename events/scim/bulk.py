"""POST /Bulk (RFC 7644 §3.7): operations in order, bulkId references, failOnErrors.

All operations share one transaction, each inside a savepoint, so a failing
operation leaves no trace while the others commit together; events are
published once, after that commit.
"""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from sqlalchemy import Connection

from events import ingest
from events.body import json_object
from events.scim.context import ScimContext, scim_context
from events.scim.resources import etag
from events.scim.routes import scim_json
from reconciler.errors import InvalidSyntax, InvalidValue, PayloadTooLarge, Refusal, TooMany
from storage import audit
from storage.clock import utcnow
from storage.db import unit_of_work
from worker.publish import publish
from worker.settings import get_settings

router = APIRouter(prefix="/scim/v2/{tenant_id}")
BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
BULK_REF = re.compile(r"^bulkId:(.+)$")
_PATH = re.compile(r"^/(Users|Groups)(?:/([^/]+))?$")


def _resolve_refs(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        match = BULK_REF.match(value)
        if match:
            if match.group(1) not in ids:
                raise InvalidValue(f"unresolved reference {value}")
            return ids[match.group(1)]
        return value
    if isinstance(value, list):
        return [_resolve_refs(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _resolve_refs(v, ids) for k, v in value.items()}
    return value


def _run(
    conn: Connection, ctx: ScimContext, op: dict[str, Any], ids: dict[str, str], events: list[int]
) -> dict[str, Any]:
    method = str(op.get("method", "")).upper()
    match = _PATH.match(str(op.get("path", "")))
    if not match or method not in ("POST", "PUT", "PATCH", "DELETE"):
        raise InvalidValue("each operation needs a method and a path /Users[/id] or /Groups[/id]")
    plural, resource_id = match.group(1), match.group(2)
    if resource_id:
        resource_id = _resolve_refs(resource_id, ids)
    kind = "user" if plural == "Users" else "group"
    data = _resolve_refs(op.get("data") or {}, ids)
    if not isinstance(data, dict):
        raise InvalidValue("an operation's 'data' must be a JSON object")
    now, if_match = utcnow(), op.get("version")
    if if_match is not None and not isinstance(if_match, str):
        raise InvalidValue("an operation's 'version' must be an ETag string")
    if method == "POST":
        if resource_id:
            raise InvalidValue("POST takes a collection path")
        result = getattr(ingest, f"create_{kind}")(conn, ctx.tenant, data, now)
        if op.get("bulkId"):
            ids[str(op["bulkId"])] = result.record.id
        status = 201
    elif not resource_id:
        raise InvalidValue(f"{method} needs a resource path")
    elif method == "DELETE":
        result = getattr(ingest, f"delete_{kind}")(
            conn, ctx.tenant, resource_id, now, if_match=if_match
        )
        status = 204
    else:
        action = "replace" if method == "PUT" else "patch"
        result = getattr(ingest, f"{action}_{kind}")(
            conn, ctx.tenant, resource_id, data, now, if_match=if_match
        )
        status = 200
    events.extend(result.event_ids)
    outcome: dict[str, Any] = {"method": method, "status": str(status)}
    if op.get("bulkId"):
        outcome["bulkId"] = op["bulkId"]
    if result.record is not None:
        outcome["location"] = f"{ctx.base_url}/{plural}/{result.record.id}"
        outcome["version"] = etag(result.record.version)
    return outcome


@router.post("/Bulk")
def bulk(
    ctx: ScimContext = Depends(scim_context), body: dict[str, Any] = Depends(json_object)
) -> JSONResponse:
    settings = get_settings()
    schemas = body.get("schemas")
    if not isinstance(schemas, list) or BULK_REQUEST not in schemas:
        raise InvalidSyntax(f"a bulk body must have schemas [{BULK_REQUEST}]")
    operations = body.get("Operations")
    if not isinstance(operations, list):
        raise InvalidSyntax("a bulk body needs an 'Operations' list")
    if len(operations) > settings.max_bulk_operations:
        raise TooMany(
            f"at most {settings.max_bulk_operations} operations per bulk request", status=413
        )
    if len(json.dumps(body)) > settings.max_body_bytes:
        raise PayloadTooLarge("bulk payload too large")
    fail_on_errors = body.get("failOnErrors")
    if fail_on_errors is not None and (
        not isinstance(fail_on_errors, int)
        or isinstance(fail_on_errors, bool)
        or fail_on_errors < 0
    ):
        raise InvalidValue("failOnErrors must be a non-negative integer")
    errors, results, ids, events = 0, [], {}, []  # type: ignore[var-annotated]
    with unit_of_work(ctx.engine) as conn:
        for op in operations:
            if fail_on_errors and errors >= fail_on_errors:
                break
            try:
                with conn.begin_nested():
                    results.append(_run(conn, ctx, op if isinstance(op, dict) else {}, ids, events))
            except Refusal as exc:
                errors += 1
                failure: dict[str, Any] = {
                    "method": str(op.get("method", "")) if isinstance(op, dict) else "",
                    "status": str(exc.status),
                    "response": {
                        "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                        "status": str(exc.status),
                        "detail": exc.detail,
                        **({"scimType": exc.scim_type} if exc.scim_type else {}),
                    },
                }
                if isinstance(op, dict) and op.get("bulkId"):
                    failure["bulkId"] = op["bulkId"]
                results.append(failure)
        audit.record_writes(conn, ctx.tenant.id, actor=ctx.token_id, event_ids=events)
    publish(ctx.engine, ctx.tenant.id, events)
    return scim_json({"schemas": [BULK_RESPONSE], "Operations": results})
