"""Issue 16 item 7: slow and greedy clients cannot hold the API's connections.

The server is run as `scimsync api` runs it (worker/http_server.py: the guarded httptools
protocol, `limit_concurrency`, the keep-alive timeout) on a real socket, with small limits
so that going over them is quick.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.support.workspace import TenantHandle, user_body
from worker.settings import get_settings

LIMITS = {
    "SCIMSYNC_API_HEADER_TIMEOUT_SECONDS": "1",
    "SCIMSYNC_API_MAX_HEADER_BYTES": "4096",
    "SCIMSYNC_API_KEEP_ALIVE_SECONDS": "1",
    "SCIMSYNC_API_LIMIT_CONCURRENCY": "3",
    "SCIMSYNC_REQUEST_BODY_TIMEOUT_SECONDS": "1",
}


@pytest.fixture
def served(
    service_env: Any, engine: Engine, redis_client: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, int]]:
    """(host, port) of the app behind uvicorn with the CLI's server options."""
    import uvicorn

    from events.app import create_app
    from worker.http_server import server_options

    for key, value in LIMITS.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        create_app(),
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        **server_options(get_settings()),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield ("127.0.0.1", port)
    server.should_exit = True
    thread.join(timeout=10)
    get_settings.cache_clear()


def _answer(conn: socket.socket, wait: float = 5.0) -> bytes:
    """What the server sends until it closes the connection (or `wait` runs out)."""
    conn.settimeout(wait)
    data = b""
    try:
        while chunk := conn.recv(65536):
            data += chunk
    except TimeoutError:
        pass
    except ConnectionResetError:  # closed with our unread bytes queued: what came first counts
        pass
    return data


def test_headers_that_never_finish_get_408_and_the_connection_closed(
    served: tuple[str, int],
) -> None:
    with socket.create_connection(served) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # no blank line: never done
        started = time.monotonic()
        answer = _answer(conn)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:100]
    assert time.monotonic() - started < 4


def test_a_silent_connection_is_closed(served: tuple[str, int]) -> None:
    with socket.create_connection(served) as conn:
        started = time.monotonic()
        answer = _answer(conn)
    assert answer.startswith(b"HTTP/1.1 408") and time.monotonic() - started < 4


def test_headers_over_the_limit_get_431(served: tuple[str, int]) -> None:
    with socket.create_connection(served) as conn:
        # 100 x 64 bytes: over 4096 long before the end. One send: the server may answer
        # and close before a loop of sends ends (a reset on our next send).
        filler = b"".join(b"X-Filler-%02d: %s\r\n" % (n, b"f" * 50) for n in range(100))
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + filler)
        answer = _answer(conn)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:100]


def test_ordinary_requests_on_a_kept_alive_connection_still_work(
    served: tuple[str, int],
) -> None:
    with socket.create_connection(served) as conn:
        conn.settimeout(5)
        for _ in range(3):
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert conn.recv(65536).startswith(b"HTTP/1.1 200")
            time.sleep(0.6)  # the header deadline of the next request starts at its first byte
        # Idle past the keep-alive timeout: the server closes the connection.
        assert _answer(conn, wait=3) == b""


def test_a_body_that_trickles_in_gets_408(served: tuple[str, int], tenant: TenantHandle) -> None:
    body = json.dumps(user_body("slow@acme.test")).encode()
    with socket.create_connection(served) as conn:
        conn.sendall(
            f"POST {tenant.scim_base}/Users HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {tenant.scim_token}\r\n"
            f"Content-Type: application/scim+json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        )
        for byte in body[:30]:  # a byte every 0.1 s: the body would take many seconds
            conn.sendall(bytes([byte]))
            time.sleep(0.1)
        answer = _answer(conn, wait=3)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"request body not received within 1 s" in answer


def test_connections_beyond_the_concurrency_limit_get_503(served: tuple[str, int]) -> None:
    held = [socket.create_connection(served) for _ in range(3)]
    try:
        time.sleep(0.2)
        with socket.create_connection(served) as extra:
            extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = _answer(extra, wait=3)
        assert answer.startswith(b"HTTP/1.1 503"), answer[:100]
    finally:
        for conn in held:
            conn.close()


def test_pipelined_requests_are_answered_and_not_timed_out(served: tuple[str, int]) -> None:
    with socket.create_connection(served) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 3)
        time.sleep(0.5)  # within the keep-alive timeout
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = _answer(conn)
    assert answer.count(b"HTTP/1.1 200") == 4, answer
    assert b"HTTP/1.1 408" not in answer  # a status line; "408" alone can sit in a header
