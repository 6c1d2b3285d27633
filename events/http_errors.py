"""The one place where errors become HTTP responses.

What the caller must do decides the answer (reconciler/errors.py):
- a `Refusal` (and a `RuleViolation` of the core, a scim2-models `SCIMException`, a
  request FastAPI could not parse, a value the database refused) is a 4xx, never retried;
- `Transient` is a 503 with `Retry-After`: try again. So is every fault of the world rather
  than of the request (`is_transient`): the database or Redis unreachable or dropping the
  connection, the connection pool exhausted, a lock wait timed out. A 500 reads as a bug to
  an IdP (Entra quarantines an app after repeated ones), a 503 as "retry";
- anything else, `Permanent` included (a worker's dead letter, never a request's), is a
  logged 500 with a generic detail.

SCIM routes answer with scim2-models' `Error` message (RFC 7644 §3.12: `status` as a
string, `scimType` where the RFC has one); the other routes with `{"error", "detail"}`.
Nothing internal (traceback, SQL, paths) ever reaches a body, and no body claims a write
was or was not applied: when a connection drops around COMMIT nobody knows, and the IdP's
retry of a create is answered 409 `uniqueness` if the first one did land.
"""

from __future__ import annotations

import redis
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from scim2_models import Error, SCIMException
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from events import refusal_trace
from reconciler.errors import (
    InvalidValue,
    RateLimited,
    Refusal,
    RuleRefusal,
    Transient,
    error_code,
)
from reconciler.model import RuleViolation

log = structlog.get_logger(__name__)
SCIM_MEDIA_TYPE = "application/scim+json"
INTERNAL_ERROR = "internal error"
UNAVAILABLE = "temporarily unavailable; retry later"
TRANSIENT_RETRY_AFTER = 5  # seconds: a database or Redis hiccup, not an outage to wait out
TRANSIENT_TYPES = (
    Transient,
    OperationalError,
    PoolTimeout,
    redis.ConnectionError,
    redis.TimeoutError,
)


def is_transient(exc: BaseException) -> bool:
    """A fault of the world, not of the request: worth the same request again later.

    `OperationalError` covers a refused or dropped database connection, PostgreSQL's
    `lock_timeout` / serialisation failures and SQLite's "database is locked"; a pool
    timeout is the pool exhausted; any other driver error that invalidated its
    connection is a connection lost mid-statement.
    """
    if isinstance(exc, TRANSIENT_TYPES):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def is_scim(request: Request) -> bool:
    return request.url.path.startswith("/scim/")


def scim_error(status: int, detail: str, scim_type: str | None = None) -> Error:
    """The SCIM Error message (RFC 7644 §3.12): the body of every SCIM error answer, and the
    `response` of a failed /Bulk operation. `status` serialises as a string."""
    return Error(status=status, scim_type=scim_type, detail=detail)


def plain_error(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status, headers=headers)


def error_response(
    request: Request,
    status: int,
    detail: str,
    *,
    code: str,
    scim_type: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A SCIM Error on SCIM routes, else `{"error": code, "detail": detail}`."""
    if is_scim(request):
        refusal_trace.remember(request, status, detail, scim_type)
        body = scim_error(status, detail, scim_type).model_dump()
        return JSONResponse(body, status_code=status, media_type=SCIM_MEDIA_TYPE, headers=headers)
    return plain_error(status, code, detail, headers)


def _headers(exc: Refusal) -> dict[str, str] | None:
    if isinstance(exc, RateLimited):
        return {"Retry-After": str(max(1, round(exc.retry_after)))}
    if exc.status == 401:
        return {"WWW-Authenticate": 'Bearer realm="scim-sync"'}
    return None


def refusal_response(request: Request, exc: Refusal) -> JSONResponse:
    return error_response(
        request,
        exc.status,
        exc.detail,
        code=error_code(exc),
        scim_type=exc.scim_type,
        headers=_headers(exc),
    )


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

    @app.exception_handler(SCIMException)
    async def _scim_exception(request: Request, exc: SCIMException) -> JSONResponse:
        # scim2-models' own exceptions each know their RFC status and scimType.
        error = exc.to_error()
        status = error.status or exc.status
        refusal = Refusal(error.detail or exc.detail, status=status, scim_type=error.scim_type)
        return refusal_response(request, refusal)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        detail = f"{where}: {first.get('msg', 'invalid request')}"
        return error_response(
            request, 400, detail, code="invalid_request", scim_type=InvalidValue.scim_type
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = str(exc.detail) if exc.status_code != 404 else "no such route"
        return refusal_response(request, Refusal(detail, status=exc.status_code))

    @app.exception_handler(DataError)
    async def _data_error(request: Request, exc: DataError) -> JSONResponse:
        # The database refused a value (too long for its column, out of range): the
        # transaction rolled back, so this is a refusal, not a server fault.
        log.info("value_refused_by_database", path=request.url.path)
        return refusal_response(request, InvalidValue("a value is too long or out of range"))

    async def _maybe_transient(request: Request, exc: Exception) -> JSONResponse:
        if is_transient(exc):
            return unavailable_response(request, exc)
        return internal_error_response(request)

    # Registered per class, so that these are answered inside the middleware stack (the
    # request's metrics and id see a 503) rather than by the server's last-resort handler.
    for transient in (*TRANSIENT_TYPES, DBAPIError):
        app.add_exception_handler(transient, _maybe_transient)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return await _maybe_transient(request, exc)


def internal_error_response(request: Request) -> JSONResponse:
    log.exception("unhandled_error", path=request.url.path)
    return error_response(request, 500, INTERNAL_ERROR, code="internal_error")


def unavailable_response(request: Request, exc: BaseException) -> JSONResponse:
    """503 + Retry-After; the log names the fault's type, the body nothing internal."""
    log.warning("transient_error", path=request.url.path, error=type(exc).__name__)
    retry = {"Retry-After": str(TRANSIENT_RETRY_AFTER)}
    return error_response(request, 503, UNAVAILABLE, code="unavailable", headers=retry)
