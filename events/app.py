"""The HTTP app factory and composition root: SCIM ingest, webhooks, admin API, operations.

`create_app()` (uvicorn's factory, `events.app:create_app`) is the one module of events/
that reads the process's settings and opens its connections (worker/settings.py,
worker/connections.py). It builds one `Runtime` (events/runtime.py) from them: the
engine, the Redis client, the publisher (worker/publish.py, called after commit only),
the rate limiter, the request metrics, the `/metrics` renderer and the operator
actions; every route gets that object, never a global.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from anyio import to_thread
from fastapi import FastAPI

from events import http_errors
from events import runtime as runtimes
from events.admin import reconcile_runs as admin_reconcile_runs
from events.admin import routes as admin_routes
from events.admin import trace as admin_trace
from events.admin_ui import accept as invitation_pages
from events.admin_ui import pages as admin_pages
from events.admin_ui import trace_page as admin_trace_page
from events.hooks import routes as webhooks
from events.ops import dashboard, dashboard_trace
from events.ops import routes as ops_routes
from events.rate_limit import Limit, RateLimiter
from events.request_context import RequestContext
from events.runtime import Runtime
from events.scim_api import bulk as scim_bulk
from events.scim_api import discovery as scim_discovery
from events.scim_api import routes as scim_routes
from events.web_security import SecurityHeaders
from worker import operations
from worker.connections import get_engine, get_sealer, redis_client
from worker.logging import configure_logging
from worker.metrics.endpoint import render_metrics
from worker.metrics.pipeline import COMMIT_BATCH, RATE_LIMITED, REQUEST_DURATION, REQUESTS
from worker.publish import BatchedPublisher
from worker.safety import check_startup
from worker.settings import Settings, get_settings
from worker.tasks import queue_invitation


class PrometheusRequestMetrics:
    """The API's request figures, kept in this process and served by `/metrics`."""

    def request(self, *, tenant: str, route: str, method: str, status: int, seconds: float) -> None:
        REQUESTS.labels(tenant=tenant, route=route, method=method, status=str(status)).inc()
        REQUEST_DURATION.labels(route=route).observe(seconds)

    def rate_limited(self, tenant: str) -> None:
        RATE_LIMITED.labels(tenant=tenant).inc()

    def write_batch(self, writes: int) -> None:
        COMMIT_BATCH.observe(writes)


def build_runtime(settings: Settings) -> Runtime:
    engine, client = get_engine(), redis_client()
    metrics = PrometheusRequestMetrics()
    limiter = RateLimiter(
        client,
        Limit(settings.rate_limit_per_second, settings.rate_limit_burst),
        on_refused=metrics.rate_limited,
        failures=Limit(settings.auth_failure_per_second, settings.auth_failure_burst),
    )
    return Runtime(
        settings=settings,
        engine=engine,
        redis=client,
        publish=BatchedPublisher(engine, gather_seconds=settings.resolved_apply_gather_seconds),
        limiter=limiter,
        metrics=metrics,
        render_metrics=render_metrics,
        operations=operations,
        send_invitation=queue_invitation,
        sealer=get_sealer(),
    )


def _lifespan(api_threads: int) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Sync routes run in anyio's thread pool (40 threads by default). Past a few threads
        # a process only adds GIL hand-offs: requests beyond them wait, cheaply, in the loop.
        to_thread.current_default_thread_limiter().total_tokens = api_threads
        # What is alive at startup (modules, routes, compiled SQL) lives as long as the
        # process: out of the collector's sight, a full collection no longer walks it on
        # every request burst (it showed as a p99 several times the median).
        gc.collect()
        gc.freeze()
        # A request allocates thousands of short-lived objects (SQLAlchemy rows, pydantic
        # models): young collections every 700 allocations ran several times per request.
        gc.set_threshold(20_000, 20, 20)
        yield

    return lifespan


def create_app(runtime: Runtime | None = None) -> FastAPI:
    """The app on `runtime`, or on one built from the process's settings."""
    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)
    check_startup(settings)  # `uvicorn events.app:create_app` run directly checks too
    runtime = runtime or build_runtime(settings)
    app = FastAPI(
        title="scim-sync",
        version="0.1.0",
        # The API's map is no stranger's business (issue 16): off unless SCIMSYNC_API_DOCS.
        docs_url="/docs" if settings.api_docs else None,
        openapi_url="/openapi.json" if settings.api_docs else None,
        redoc_url=None,
        lifespan=_lifespan(settings.api_threads),
    )
    runtimes.install(app, runtime)
    http_errors.install(app)

    app.add_middleware(
        RequestContext,
        max_body_bytes=runtime.settings.max_body_bytes,
        metrics=runtime.metrics,
        body_timeout=runtime.settings.request_body_timeout_seconds,
    )
    app.add_middleware(SecurityHeaders)  # outermost: every answer, errors included

    # Routes are matched in order, one by one: the SCIM resources, which carry almost every
    # request, come first (no other route's path starts /scim/v2/{tenant_id}/Users|Groups).
    # Per-tenant rate limits (events/rate_limit.py) are taken once a request authenticated
    # (events/guard.py); failed authentications are charged to the client's address.
    app.include_router(scim_routes.router)
    app.include_router(ops_routes.router)
    app.include_router(scim_discovery.router)
    app.include_router(scim_bulk.router)
    app.include_router(webhooks.router)  # signed pushes and Okta Event Hooks
    app.include_router(admin_routes.router)  # the Members page: /api/v1/workspaces/...
    app.include_router(admin_trace.router)  # .../trace?q=: what happened to a person
    app.include_router(admin_reconcile_runs.router)  # drift reports, for the admin token
    app.include_router(admin_pages.router)  # the workspace admin's pages: /workspaces/...
    app.include_router(admin_trace_page.router)  # /workspaces/{t}/trace: the Timeline page
    app.include_router(invitation_pages.router)  # the invitee's accept page: /invitations/...
    app.include_router(dashboard.router)  # the operator page: /dashboard
    app.include_router(dashboard_trace.router)  # /dashboard/trace: what happened to a person
    return app
