"""The HTTP app factory: SCIM ingest, webhooks, admin API, operations routes."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable

import structlog
from fastapi import Depends, FastAPI, Request, Response

from events import (
    admin_routes,
    dashboard,
    http_errors,
    ops_routes,
    rate_limit,
    scim_bulk,
    scim_discovery,
    scim_routes,
    webhooks,
)
from events.errors import InvalidSyntax, PayloadTooLarge
from worker.logging import configure_logging
from worker.metrics import REQUEST_DURATION, REQUESTS
from worker.settings import get_settings

log = structlog.get_logger(__name__)


def _route_template(request: Request) -> str:
    route = request.scope.get("route")
    return getattr(route, "path", "unmatched")


def create_app() -> FastAPI:
    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)
    app = FastAPI(title="scim-sync", version="0.1.0", docs_url="/docs", redoc_url=None)
    http_errors.install(app)

    @app.middleware("http")
    async def request_context(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > settings.max_body_bytes:
            response: Response = http_errors.refusal_response(
                request, PayloadTooLarge(f"body over {settings.max_body_bytes} bytes")
            )
        elif "\x00" in request.url.path or b"%00" in request.scope.get("query_string", b""):
            # PostgreSQL text cannot hold NUL: refuse it here rather than fail in the driver.
            response = http_errors.refusal_response(
                request, InvalidSyntax("NUL characters are not allowed in the URL")
            )
        else:
            response = await call_next(request)
        route = _route_template(request)
        # Only an authenticated tenant becomes a label: made-up ids must not mint series.
        tenant = getattr(request.state, "tenant_id", None) or "-"
        REQUESTS.labels(
            tenant=tenant, route=route, method=request.method, status=str(response.status_code)
        ).inc()
        REQUEST_DURATION.labels(route=route).observe(time.perf_counter() - started)
        response.headers["X-Request-Id"] = request_id
        return response

    app.include_router(ops_routes.router)
    # Per-tenant rate limits (events/rate_limit.py): SCIM after authentication, webhooks
    # before it with the token given back on a 401.
    scim_limited = [Depends(rate_limit.limit_scim)]
    app.include_router(scim_discovery.router, dependencies=scim_limited)
    app.include_router(scim_bulk.router, dependencies=scim_limited)
    app.include_router(scim_routes.router, dependencies=scim_limited)
    app.include_router(
        webhooks.router,  # signed pushes and Okta Event Hooks
        dependencies=[Depends(rate_limit.limit_webhook)],
    )
    app.include_router(admin_routes.router)  # the Members page: /api/v1/workspaces/...
    app.include_router(dashboard.router)  # the operator page: /dashboard
    return app
