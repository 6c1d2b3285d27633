"""Issue 16 item 3: who pays for a request that fails, and how it is counted.

- A client that hangs up while sending its body is logged at INFO and counted as 499,
  never as a 500, and its tenant gets the rate-limit token back.
- A body over the limit (413) gives the token back too, and a chunked one is refused as
  it streams, without waiting for (or buffering) the rest.
- A failed authentication is charged to the client's address, never to the tenant: past
  the address' budget its refused credentials get 429.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import Engine

from events.rate_limit import bucket_key
from storage import tenants
from storage.db import unit_of_work
from tests.security.conftest import assert_scim_error
from tests.support.workspace import TenantHandle, make_tenant, user_body
from worker.metrics.pipeline import REQUESTS
from worker.settings import get_settings

USERS_ROUTE = "/scim/v2/{tenant_id}/Users"


def _limit(engine: Engine, tenant: TenantHandle, burst: int) -> None:
    with unit_of_work(engine) as conn:  # a token back every 1,000 s: none during the test
        tenants.set_options(
            conn, tenant.id, {"rate_limit_per_second": 0.001, "rate_limit_burst": burst}
        )


def _requests(tenant_id: str, status: str) -> float:
    samples = next(iter(REQUESTS.collect())).samples
    return sum(
        s.value
        for s in samples
        if s.name.endswith("_total")
        and s.labels["tenant"] == tenant_id
        and s.labels["route"] == USERS_ROUTE
        and s.labels["status"] == status
    )


def _connect(base_url: str) -> socket.socket:
    where = urlsplit(base_url)
    return socket.create_connection((where.hostname or "", where.port or 80), timeout=10)


def _create(api_or_url: Any, tenant: TenantHandle, name: str) -> int:
    body = user_body(f"{name}@acme.test")
    if isinstance(api_or_url, str):
        import httpx

        with httpx.Client(base_url=api_or_url, headers=tenant.scim_headers) as idp:
            return idp.post(f"{tenant.scim_base}/Users", json=body).status_code
    response = api_or_url.post(f"{tenant.scim_base}/Users", json=body, headers=tenant.scim_headers)
    return int(response.status_code)


def _hang_up_mid_body(base_url: str, tenant: TenantHandle) -> None:
    body = json.dumps(user_body("gone@acme.test")).encode()
    with _connect(base_url) as conn:
        conn.sendall(
            f"POST {tenant.scim_base}/Users HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {tenant.scim_token}\r\n"
            f"Content-Type: application/scim+json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body[:20]
        )
        time.sleep(0.3)  # the server authenticated and waits for the rest of the body


class _Log:
    """What events/http_errors.py logs, by level."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def __getattr__(self, level: str) -> Any:
        return lambda event, **_: self.calls.append((level, event))


def test_a_client_hanging_up_mid_body_is_info_and_499_and_refunded(
    live_server: str, engine: Engine, tenant: TenantHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    from events import http_errors

    log = _Log()
    monkeypatch.setattr(http_errors, "log", log)
    _limit(engine, tenant, burst=2)
    errors_before = _requests(tenant.id, "500")
    closed_before = _requests(tenant.id, "499")
    for _ in range(4):
        _hang_up_mid_body(live_server, tenant)
    deadline = time.monotonic() + 10
    while _requests(tenant.id, "499") < closed_before + 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _requests(tenant.id, "499") == closed_before + 4
    assert _requests(tenant.id, "500") == errors_before
    # Four hang-ups took no token for good: the burst of two is still there.
    assert [_create(live_server, tenant, f"after{n}") for n in range(3)] == [201, 201, 429]
    assert log.calls == [("info", "client_disconnected")] * 4  # no error, no traceback


def test_a_chunked_body_over_the_limit_is_refused_while_it_streams(
    live_server: str, tenant: TenantHandle
) -> None:
    limit = get_settings().max_body_bytes
    chunk = b"x" * 65536
    with _connect(live_server) as conn:
        conn.sendall(
            f"POST {tenant.scim_base}/Users HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {tenant.scim_token}\r\n"
            "Content-Type: application/scim+json\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        )
        for _ in range(limit // len(chunk) + 2):
            conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        # No terminating chunk: a server that waits for the whole body never answers.
        conn.settimeout(5)
        answer = conn.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


@pytest.fixture
def small_body(
    service_env: Any, engine: Engine, redis_client: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from events.app import create_app

    monkeypatch.setenv("SCIMSYNC_MAX_BODY_BYTES", "2000")
    monkeypatch.setenv("SCIMSYNC_AUTH_FAILURE_BURST", "3")
    get_settings.cache_clear()
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        yield client
    get_settings.cache_clear()


def test_a_body_over_the_limit_gives_the_token_back(
    small_body: Any, engine: Engine, tenant: TenantHandle
) -> None:
    _limit(engine, tenant, burst=2)
    big = json.dumps(user_body("big@acme.test", displayName="x" * 5000)).encode()
    for _ in range(3):
        refused = small_body.post(
            f"{tenant.scim_base}/Users",
            content=iter([big[:100], big[100:]]),  # chunked: refused after the token is taken
            headers=tenant.scim_headers,
        )
        assert_scim_error(refused, 413)
    assert [_create(small_body, tenant, f"ok{n}") for n in range(3)] == [201, 201, 429]


def test_failed_authentication_is_charged_to_the_address_not_the_tenant(
    small_body: Any, engine: Engine, redis_client: Any, tenant: TenantHandle
) -> None:
    _limit(engine, tenant, burst=2)
    other = make_tenant(engine, name="Globex", domains=("globex.test",), owner_email=None)
    users = f"{tenant.scim_base}/Users"
    assert small_body.get(users, headers=tenant.scim_headers).status_code == 200  # remembered

    def wrong() -> Any:
        return small_body.get(users, headers={"Authorization": "Bearer no"})

    assert [wrong().status_code for _ in range(3)] == [401, 401, 401]
    over = wrong()
    body = assert_scim_error(over, 429)
    assert "failed authentications" in body["detail"] and int(over.headers["Retry-After"]) >= 1
    assert redis_client.exists("scimsync:authfail:testclient")  # the address pays
    # The tenant's bucket was never touched by the failures: one token spent, one left.
    assert small_body.get(users, headers=tenant.scim_headers).status_code == 200
    assert small_body.get(users, headers=tenant.scim_headers).status_code == 429
    # A credential this process has not just accepted waits, like the failures, without
    # costing a database lookup; the admin API and webhooks share the address' budget.
    blocked = small_body.get(f"{other.scim_base}/Users", headers=other.scim_headers)
    assert blocked.status_code == 429
    admin = small_body.get(
        f"/api/v1/workspaces/{tenant.id}/members", headers={"Authorization": "Bearer no"}
    )
    assert admin.status_code == 429
    hook = small_body.post(f"/hooks/v1/{tenant.id}/events", content=b"{}")
    assert hook.status_code == 429
    assert float(redis_client.hget(bucket_key(tenant.id), "tokens")) < 1
