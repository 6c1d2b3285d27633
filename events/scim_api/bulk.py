"""POST /Bulk (RFC 7644 §3.7): operations in order, bulkId references, failOnErrors.

The envelope, each operation's method/bulkId/version/path and the response are
scim2-models' `BulkRequest`, `BulkOperation` and `BulkResponse`. An operation's
`data` is kept as the JSON the IdP sent: it goes the way the same request sent
alone goes, through the tenant's dialect (which fixes the IdP's quirks before
anything validates the body) into the one write path (events/ingest/service.py).

All operations share one transaction, each inside a savepoint, so a failing
operation leaves no trace while the others commit together; the request is
audited once, and its events are published once, after that commit.
"""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter, ValidationError
from scim2_models import BulkOperation, BulkRequest, BulkResponse, Context, Error, Group, User

from events.body import json_object
from events.http_errors import rule_refusal, scim_error
from events.ingest.service import IngestSession
from events.ingest.writes import Kind, Op, WriteResult
from events.scim.resources import etag
from events.scim_api.context import ScimContext, scim_context
from events.scim_api.routes import scim_json, scim_session
from reconciler.errors import InvalidSyntax, InvalidValue, PayloadTooLarge, Refusal, TooMany
from reconciler.model import RuleViolation

router = APIRouter(prefix="/scim/v2/{tenant_id}")
BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_REF = re.compile(r"^bulkId:(.+)$")
_PATH = re.compile(r"^/(Users|Groups)(?:/([^/]+))?$")

Envelope = BulkRequest[User | Group]
Operation = BulkOperation[User]  # data is never parsed here: the type only names one
Method = BulkOperation.Method
_operation = TypeAdapter(Operation)
_ENVELOPE_KEYS = {"method", "bulkid", "version", "path"}  # `data` stays raw: see above

KINDS = {"Users": Kind.USER, "Groups": Kind.GROUP}
OPS = {
    Method.post: Op.CREATE,
    Method.put: Op.REPLACE,
    Method.patch: Op.PATCH,
    Method.delete: Op.DELETE,
}
STATUS = {Op.CREATE: 201, Op.REPLACE: 200, Op.PATCH: 200, Op.DELETE: 204}


def _first_error(exc: ValidationError) -> str:
    return Error.from_validation_errors(exc)[0].detail or "invalid"


def _envelope(body: dict[str, Any]) -> tuple[int | None, list[Any]]:
    """failOnErrors and the raw operations, once the envelope is a BulkRequest."""
    schemas = body.get("schemas")
    if not isinstance(schemas, list) or BULK_REQUEST not in schemas:
        raise InvalidSyntax(f"a bulk body must have schemas [{BULK_REQUEST}]")
    operations = body.get("Operations")
    if not isinstance(operations, list):
        raise InvalidSyntax("a bulk body needs an 'Operations' list")
    try:
        request = Envelope.model_validate(
            {k: v for k, v in body.items() if k != "Operations"}, strict=True
        )
    except ValidationError as exc:
        raise InvalidValue(f"not a bulk request: {_first_error(exc)}") from None
    if request.fail_on_errors is not None and request.fail_on_errors < 0:
        raise InvalidValue("failOnErrors must be a non-negative integer")
    return request.fail_on_errors, operations


def _operation_of(raw: Any) -> Operation:
    """The operation's envelope, validated; a lower-case method is taken as meant."""
    if not isinstance(raw, dict):
        raise InvalidValue("each operation must be a JSON object")
    fields = {k: v for k, v in raw.items() if isinstance(k, str) and k.lower() in _ENVELOPE_KEYS}
    fields = {
        k: v.upper() if k.lower() == "method" and isinstance(v, str) else v
        for k, v in fields.items()
    }
    try:
        operation = _operation.validate_python(fields)
    except ValidationError as exc:
        raise InvalidValue(f"operation: {_first_error(exc)}") from None
    if operation.method is None:
        raise InvalidValue("each operation needs a method")
    return operation


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
    session: IngestSession,
    ctx: ScimContext,
    operation: Operation,
    raw: dict[str, Any],
    ids: dict[str, str],
) -> Operation:
    """One operation through the one write path, as the same request alone would go."""
    match = _PATH.match(operation.path or "")
    if not match:
        raise InvalidValue("each operation needs a path /Users[/id] or /Groups[/id]")
    plural, resource_id = match.group(1), match.group(2)
    assert operation.method is not None
    kind, op = KINDS[plural], OPS[operation.method]
    if resource_id:
        resource_id = _resolve_refs(resource_id, ids)
    data = _resolve_refs(raw.get("data") or {}, ids)
    if not isinstance(data, dict):
        raise InvalidValue("an operation's 'data' must be a JSON object")
    result: WriteResult
    if op is Op.CREATE:
        if resource_id:
            raise InvalidValue("POST takes a collection path")
        result = session.write(kind, op, data)
        if operation.bulk_id and result.record is not None:
            ids[operation.bulk_id] = result.record.id
    elif not resource_id:
        raise InvalidValue(f"{operation.method.value} needs a resource path")
    elif op is Op.DELETE:
        result = session.write(kind, op, resource_id, if_match=operation.version)
    else:
        result = session.write(kind, op, resource_id, data, if_match=operation.version)
    record = result.record
    return Operation(
        method=operation.method,
        bulk_id=operation.bulk_id,
        status=STATUS[op],
        location=f"{ctx.base_url}/{plural}/{record.id}" if record else None,
        version=etag(record.version) if record else None,
    )


def _failed(raw: Any, operation: Operation | None, exc: Refusal) -> Operation:
    error = scim_error(exc.status, exc.detail, exc.scim_type)
    bulk_id = raw.get("bulkId") if isinstance(raw, dict) else None
    return Operation(
        method=operation.method if operation else None,
        bulk_id=operation.bulk_id if operation else bulk_id if isinstance(bulk_id, str) else None,
        status=exc.status,
        response=error,
    )


@router.post("/Bulk")
def bulk(
    ctx: ScimContext = Depends(scim_context), body: dict[str, Any] = Depends(json_object)
) -> JSONResponse:
    settings = ctx.runtime.settings
    fail_on_errors, operations = _envelope(body)
    if len(operations) > settings.max_bulk_operations:
        raise TooMany(
            f"at most {settings.max_bulk_operations} operations per bulk request", status=413
        )
    if len(json.dumps(body)) > settings.max_body_bytes:
        raise PayloadTooLarge("bulk payload too large")
    # One token per operation, not per request (authentication took the first): a Bulk
    # must not be a way around the tenant's rate limit.
    ctx.runtime.limiter.charge(ctx.tenant.id, ctx.tenant.options, len(operations) - 1)
    errors = 0
    results: list[Any] = []  # one per operation run
    ids: dict[str, str] = {}  # bulkId -> the id its operation created
    with scim_session(ctx) as session:
        for raw in operations:
            if fail_on_errors and errors >= fail_on_errors:
                break
            operation = None
            try:
                operation = _operation_of(raw)
                with session.savepoint():
                    results.append(_run(session, ctx, operation, raw, ids))
            except (Refusal, RuleViolation) as exc:
                errors += 1
                refusal = rule_refusal(exc) if isinstance(exc, RuleViolation) else exc
                results.append(_failed(raw, operation, refusal))
    response = BulkResponse[User | Group](Operations=results)
    return scim_json(response.model_dump(scim_ctx=Context.BULK_RESPONSE))
