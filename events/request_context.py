"""Per-request bookkeeping as plain ASGI middleware: request id, refusals made before
routing, and the request metrics.

Plain ASGI rather than Starlette's BaseHTTPMiddleware: that one runs the app in a
separate task and streams the response through a memory channel, which costs every
request more than the rest of this middleware together.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import structlog
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from events import http_errors, refusal_trace
from events.ingest.origin import current_origin
from events.runtime import RequestMetrics
from reconciler.errors import InvalidSyntax, PayloadTooLarge, Refusal
from storage.audit import RequestOrigin


def _early_refusal(scope: Scope, max_body_bytes: int) -> Refusal | None:
    """What can be refused from the request line and headers alone."""
    length = Request(scope).headers.get("content-length")
    if length and length.isdigit() and int(length) > max_body_bytes:
        return PayloadTooLarge(f"body over {max_body_bytes} bytes")
    if "\x00" in scope["path"] or b"%00" in scope.get("query_string", b""):
        # PostgreSQL text cannot hold NUL: refuse it here rather than fail in the driver.
        return InvalidSyntax("NUL characters are not allowed in the URL")
    return None


class RequestContext:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, metrics: RequestMetrics) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        request_id = headers.get(b"x-request-id", b"").decode("latin-1") or uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        current_origin.set(RequestOrigin(request_id[:100], scope["method"], scope["path"][:300]))
        started = time.perf_counter()
        status = 500  # what the client sees if the app dies before answering

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode("latin-1")),
                ]
            await send(message)

        try:
            refusal = _early_refusal(scope, self.max_body_bytes)
            if refusal is not None:
                response = http_errors.refusal_response(Request(scope), refusal)
                await response(scope, receive, send_with_id)
            else:
                await self.app(scope, receive, send_with_id)
                if status in refusal_trace.KEPT_STATUSES:
                    await refusal_trace.keep(scope, request_id, scope["app"].state.runtime.engine)
        finally:
            self._observe(scope, status, time.perf_counter() - started)

    def _observe(self, scope: Scope, status: int, seconds: float) -> None:
        route = getattr(scope.get("route"), "path", "unmatched")
        state: dict[str, Any] = scope.get("state") or {}
        # Only an authenticated tenant becomes a label: made-up ids must not mint series.
        tenant = state.get("tenant_id") or "-"
        self.metrics.request(
            tenant=tenant, route=route, method=scope["method"], status=status, seconds=seconds
        )
