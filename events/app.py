"""The HTTP app factory: SCIM ingest, webhooks, admin API, operations routes."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from anyio import to_thread
from fastapi import Depends, FastAPI

from events import http_errors, rate_limit
from events.admin import routes as admin_routes
from events.hooks import routes as webhooks
from events.ops import dashboard
from events.ops import routes as ops_routes
from events.request_context import RequestContext
from events.scim import bulk as scim_bulk
from events.scim import discovery as scim_discovery
from events.scim import routes as scim_routes
from worker.logging import configure_logging
from worker.settings import get_settings

log = structlog.get_logger(__name__)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Sync routes run in anyio's thread pool (40 threads by default). Past a few threads
    # a process only adds GIL hand-offs: requests beyond them wait, cheaply, in the loop.
    to_thread.current_default_thread_limiter().total_tokens = get_settings().api_threads
    # What is alive at startup (modules, routes, compiled SQL) lives as long as the process:
    # out of the collector's sight, a full collection no longer walks it on every request
    # burst (it showed as a p99 several times the median).
    gc.collect()
    gc.freeze()
    # A request allocates thousands of short-lived objects (SQLAlchemy rows, pydantic
    # models): young collections every 700 allocations ran several times per request.
    gc.set_threshold(20_000, 20, 20)
    yield


def create_app() -> FastAPI:
    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)
    app = FastAPI(
        title="scim-sync", version="0.1.0", docs_url="/docs", redoc_url=None, lifespan=_lifespan
    )
    http_errors.install(app)

    app.add_middleware(RequestContext, max_body_bytes=settings.max_body_bytes)

    app.include_router(ops_routes.router)
    # Per-tenant rate limits (events/rate_limit.py): SCIM routes inside their
    # authentication (events/scim/context.py), webhooks before it with the token given
    # back on a 401.
    app.include_router(scim_discovery.router)
    app.include_router(scim_bulk.router)
    app.include_router(scim_routes.router)
    app.include_router(
        webhooks.router,  # signed pushes and Okta Event Hooks
        dependencies=[Depends(rate_limit.limit_webhook)],
    )
    app.include_router(admin_routes.router)  # the Members page: /api/v1/workspaces/...
    app.include_router(dashboard.router)  # the operator page: /dashboard
    return app
