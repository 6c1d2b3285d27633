"""How `scimsync api` serves HTTP: uvicorn with limits on slow and greedy clients (issue 16).

uvicorn bounds a connection only between requests (`timeout_keep_alive`): a client that
opens connections and sends its request line and headers a byte at a time, or never
finishes them, holds each connection (and its memory) for as long as it likes, and its
httptools parser takes headers of any size. `GuardedHttpToolsProtocol` adds the two
missing bounds: the request line and headers must arrive within
`api_header_timeout_seconds` of the connection opening (on a kept-alive connection, of
the next request's first byte) and fit in `api_max_header_bytes`, else the connection gets a
408 or 431 and is closed. The body's own deadline is the app's
(`request_body_timeout_seconds`, events/request_context.py); `api_limit_concurrency`
caps connections and requests in flight per process (uvicorn answers 503 beyond it).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from worker.settings import Settings, get_settings

PROTOCOL = "worker.http_server:GuardedHttpToolsProtocol"  # by name: workers import it


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's keyword arguments for the limits above (`uvicorn.run`, `uvicorn.Config`)."""
    return {
        "http": PROTOCOL,
        "limit_concurrency": settings.api_limit_concurrency,
        "timeout_keep_alive": settings.api_keep_alive_seconds,
    }


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = get_settings()
        self.header_timeout = settings.api_header_timeout_seconds
        self.max_header_bytes = settings.api_max_header_bytes
        self._header_bytes = 0
        self._awaiting_headers = True
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._awaiting_headers:
            self._header_bytes += len(data)
        super().data_received(data)
        # Every byte since the request began is still request line and headers.
        if self._awaiting_headers and self._header_bytes > self.max_header_bytes:
            self._refuse(431, "request headers too large")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        # A further request on a kept-alive connection: its deadline runs from its first
        # byte (the keep-alive timeout bounds the wait for that byte).
        if not self._awaiting_headers:
            self._awaiting_headers = True
            self._header_bytes = 0
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._header_timed_out)

    def on_headers_complete(self) -> None:
        self._awaiting_headers = False
        self._stop_header_timer()
        super().on_headers_complete()

    def _await_headers(self) -> None:
        self._awaiting_headers = True
        self._header_bytes = 0
        self._stop_header_timer()
        self._header_timer = self.loop.call_later(self.header_timeout, self._header_timed_out)

    def _stop_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timed_out(self) -> None:
        self._header_timer = None
        if self._awaiting_headers:
            self._refuse(408, "request headers not received in time")

    def _refuse(self, status: int, message: str) -> None:
        self._stop_header_timer()
        if self.transport.is_closing():
            return
        self.logger.info("%s from %s", message, self.client[0] if self.client else "?")
        body = message.encode("ascii")
        self.transport.write(
            b"".join(
                [
                    STATUS_LINE[status],
                    b"content-type: text/plain; charset=utf-8\r\n",
                    b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                    b"connection: close\r\n\r\n",
                    body,
                ]
            )
        )
        self.transport.close()
