"""The HTTP app factory: SCIM ingest, webhooks, admin API, operations routes."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable

import structlog
from fastapi import FastAPI, Request, Response

from events import http_errors, ops_routes, scim_bulk, scim_discovery, scim_routes, webhooks
from events.errors import PayloadTooLarge
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
        else:
            response = await call_next(request)
        route = _route_template(request)
        # Only an authenticated tenant becomes a label: made-up ids must not mint series.
        tenant = getattr(request.state, "tenant_id", None) or "-"
        REQUESTS.labels(tenant=tenant, route=route, method=request.method,
                        status=str(response.status_code)).inc()
        REQUEST_DURATION.labels(route=route).observe(time.perf_counter() - started)
        response.headers["X-Request-Id"] = request_id
        return response

    app.include_router(ops_routes.router)
    app.include_router(scim_discovery.router)
    app.include_router(scim_bulk.router)
    app.include_router(scim_routes.router)
    app.include_router(webhooks.router)  # signed pushes and Okta Event Hooks
    return app
