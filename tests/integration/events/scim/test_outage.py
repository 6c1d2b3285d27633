"""A database or Redis that is unreachable, a pool that is exhausted, a lock that times out:
every SCIM read and write answers 503 with `Retry-After`, never 500, and the body does not
claim to know whether a write was applied (a lost COMMIT answer leaves that unknown)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from events.app import build_runtime, create_app
from storage.db import make_engine
from tests.support.workspace import TenantHandle, group_body, make_tenant, patch_body, user_body
from worker.settings import get_settings

UNREACHABLE_POSTGRES = "postgresql://postgres@127.0.0.1:9/unreachable"


@pytest.fixture
def tenant(engine: Engine, service_env: Any) -> TenantHandle:
    return make_tenant(engine)


def _client(**changes: Any) -> TestClient:
    runtime = dataclasses.replace(build_runtime(get_settings()), **changes)
    return TestClient(create_app(runtime), raise_server_exceptions=False)


def _every_request(client: TestClient, tenant: TenantHandle) -> Iterator[Any]:
    base, headers = tenant.scim_base, tenant.scim_headers
    some_id = "2819c223-7f76-453a-919d-413861904646"
    yield client.get(f'{base}/Users?filter=userName eq "a@acme.test"', headers=headers)
    yield client.get(f"{base}/Users/{some_id}", headers=headers)
    yield client.get(f"{base}/Groups", headers=headers)
    yield client.post(f"{base}/Users", json=user_body("a@acme.test"), headers=headers)
    yield client.post(f"{base}/Groups", json=group_body("Team"), headers=headers)
    yield client.put(f"{base}/Users/{some_id}", json=user_body("a@acme.test"), headers=headers)
    patch = patch_body({"op": "replace", "path": "active", "value": False})
    yield client.patch(f"{base}/Users/{some_id}", json=patch, headers=headers)
    yield client.delete(f"{base}/Groups/{some_id}", headers=headers)
    bulk = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [
            {"method": "POST", "path": "/Users", "bulkId": "a", "data": user_body("b@acme.test")}
        ],
    }
    yield client.post(f"{base}/Bulk", json=bulk, headers=headers)


def _assert_unavailable(response: Any) -> None:
    assert response.status_code == 503, (response.request.method, response.text)
    assert int(response.headers["Retry-After"]) >= 1
    body = response.json()
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert body["status"] == "503"
    assert "not applied" not in body["detail"]
    assert "127.0.0.1" not in response.text and "Traceback" not in response.text


def test_database_unreachable_answers_503_on_reads_and_writes(tenant: TenantHandle) -> None:
    down = make_engine(UNREACHABLE_POSTGRES, connect_args={"connect_timeout": 2})
    try:
        with _client(engine=down) as client:
            for response in _every_request(client, tenant):
                _assert_unavailable(response)
    finally:
        down.dispose()


def test_exhausted_pool_answers_503(tenant: TenantHandle, database_url: str) -> None:
    small = make_engine(database_url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    held = small.connect()  # the one connection, taken by a long request
    try:
        with _client(engine=small) as client:
            for response in _every_request(client, tenant):
                _assert_unavailable(response)
    finally:
        held.close()
        small.dispose()


def test_redis_unreachable_still_accepts_writes_and_reads(tenant: TenantHandle) -> None:
    """Redis is not where a write becomes durable: without it the rate limit fails open and
    the relay publishes later, so the IdP sees 2xx, not 503 (or 500)."""
    import redis

    gone = redis.Redis.from_url("redis://127.0.0.1:9/0", socket_connect_timeout=1)
    runtime = build_runtime(get_settings())
    limiter = dataclasses.replace(runtime.limiter, client=gone)
    with _client(redis=gone, limiter=limiter) as client:
        base, headers = tenant.scim_base, tenant.scim_headers
        created = client.post(f"{base}/Users", json=user_body("r@acme.test"), headers=headers)
        assert created.status_code == 201, created.text
        listed = client.get(f"{base}/Users", headers=headers)
        assert listed.status_code == 200 and listed.json()["totalResults"] == 1


def test_lock_timeout_answers_503(tenant: TenantHandle, engine: Engine, database_url: str) -> None:
    """A writer that waits too long for a row lock (PostgreSQL `lock_timeout`) or for the
    database (SQLite's busy timeout) is told to retry, not that the server broke."""
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        base, headers = tenant.scim_base, tenant.scim_headers
        created = client.post(f"{base}/Users", json=user_body("l@acme.test"), headers=headers)
        user_id = created.json()["id"]
    if engine.dialect.name == "sqlite":
        impatient = make_engine(database_url)
        # The application's own busy_timeout (30 s) is set on connect; shorten it after.
        from sqlalchemy import event

        @event.listens_for(impatient, "connect")
        def _short(dbapi_connection: Any, _: Any) -> None:
            dbapi_connection.execute("PRAGMA busy_timeout=100")
    else:
        impatient = make_engine(database_url, connect_args={"options": "-c lock_timeout=200"})
    holder = engine.connect()
    holder_tx = holder.begin()
    if engine.dialect.name == "sqlite":
        holder.exec_driver_sql("COMMIT")
        holder.exec_driver_sql("BEGIN IMMEDIATE")
        holder.execute(
            text("UPDATE mirror_users SET version = version WHERE id = :id"), {"id": user_id}
        )
    else:
        holder.execute(
            text("SELECT 1 FROM mirror_users WHERE id = :id FOR UPDATE"), {"id": user_id}
        )
    try:
        with _client(engine=impatient) as client:
            patch = patch_body({"op": "replace", "path": "active", "value": False})
            response = client.patch(f"{base}/Users/{user_id}", json=patch, headers=headers)
            _assert_unavailable(response)
    finally:
        if engine.dialect.name == "sqlite":
            holder.exec_driver_sql("ROLLBACK")
        else:
            holder_tx.rollback()
        holder.close()
        impatient.dispose()
