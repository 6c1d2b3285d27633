"""The one place where errors become HTTP responses.

SCIM routes answer with a SCIM Error body (`status` as a string, `scimType`);
admin routes with `{"error", "detail"}`. Nothing internal (traceback, SQL,
paths) ever reaches a body: unexpected errors are logged and answered 500.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from reconciler.errors import InvalidValue, RateLimited, Refusal, RuleRefusal
from reconciler.model import RuleViolation

log = structlog.get_logger(__name__)
SCIM_MEDIA_TYPE = "application/scim+json"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"


def is_scim(request: Request) -> bool:
    return request.url.path.startswith("/scim/")


def scim_error(
    status: int, detail: str, scim_type: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body: dict[str, Any] = {"schemas": [ERROR_SCHEMA], "status": str(status), "detail": detail}
    if scim_type:
        body["scimType"] = scim_type
    return JSONResponse(body, status_code=status, media_type=SCIM_MEDIA_TYPE, headers=headers)


def plain_error(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status, headers=headers)


def _headers(exc: Refusal) -> dict[str, str] | None:
    if isinstance(exc, RateLimited):
        return {"Retry-After": str(max(1, round(exc.retry_after)))}
    if exc.status == 401:
        return {"WWW-Authenticate": 'Bearer realm="scim-sync"'}
    return None


def refusal_response(request: Request, exc: Refusal) -> JSONResponse:
    if is_scim(request):
        return scim_error(exc.status, exc.detail, exc.scim_type, _headers(exc))
    code = exc.code if isinstance(exc, RuleRefusal) else (exc.scim_type or _code_for(exc.status))
    return plain_error(exc.status, code, exc.detail, _headers(exc))


def _code_for(status: int) -> str:
    return {
        400: "bad_request",
        401: "unauthorized",
        404: "not_found",
        405: "method_not_allowed",
        409: "conflict",
        412: "precondition_failed",
        413: "payload_too_large",
        429: "rate_limited",
    }.get(status, "error")


# A rule refusal is a 409, except where another status says it better.
RULE_STATUS = {"groups_not_supported": 501, "not_found": 404}


def rule_refusal(exc: RuleViolation) -> RuleRefusal:
    refusal = RuleRefusal(exc.code, exc.detail)
    refusal.status = RULE_STATUS.get(exc.code, 409)
    return refusal


def install(app: FastAPI) -> None:
    @app.exception_handler(RuleViolation)
    async def _rule(request: Request, exc: RuleViolation) -> JSONResponse:
        return refusal_response(request, rule_refusal(exc))

    @app.exception_handler(Refusal)
    async def _refusal(request: Request, exc: Refusal) -> JSONResponse:
        return refusal_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        detail = f"{where}: {first.get('msg', 'invalid request')}"
        if is_scim(request):
            return scim_error(400, detail, "invalidValue")
        return plain_error(400, "invalid_request", detail)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = str(exc.detail) if exc.status_code != 404 else "no such route"
        if is_scim(request):
            return scim_error(exc.status_code, detail)
        return plain_error(exc.status_code, _code_for(exc.status_code), detail)

    @app.exception_handler(DataError)
    async def _data_error(request: Request, exc: DataError) -> JSONResponse:
        # The database refused a value (too long for its column, out of range): the
        # transaction rolled back, so this is a refusal, not a server fault.
        log.info("value_refused_by_database", path=request.url.path)
        refusal = InvalidValue("a value is too long or out of range")
        return refusal_response(request, refusal)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled_error", path=request.url.path)
        if is_scim(request):
            return scim_error(500, "internal error; the request was not applied")
        return plain_error(500, "internal_error", "internal error; the request was not applied")
