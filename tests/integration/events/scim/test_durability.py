"""Durable on commit: the event reaches Redis after commit; with Redis down the write
still succeeds and the event waits, unpublished, in SQL for the relay."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from storage.event_state import EventState
from storage.schema import change_events, mirror_users
from tests.support.workspace import TenantHandle, make_tenant, user_body


@pytest.fixture
def tenant(engine: Any, service_env: Any) -> TenantHandle:
    return make_tenant(engine)


def test_event_is_recorded_and_message_reaches_redis(
    api: Any, tenant: TenantHandle, engine: Any, redis_client: Any
) -> None:
    response = api.post(
        f"{tenant.scim_base}/Users", json=user_body("q@acme.test"), headers=tenant.scim_headers
    )
    assert response.status_code == 201
    with engine.connect() as conn:
        event = conn.execute(select(change_events)).one()
    assert event.resource_id == response.json()["id"] and event.operation == "create"
    assert event.version == 1 and event.received_at and event.published_at
    messages = redis_client.lrange("scimsync", 0, -1)
    assert len(messages) == 1
    message = json.loads(messages[0])
    assert message["headers"]["task"] == "scimsync.apply_tenant"
    assert tenant.id in message["headers"]["argsrepr"]


def test_burst_of_writes_queues_one_message_per_tenant(
    api: Any, tenant: TenantHandle, redis_client: Any
) -> None:
    for i in range(5):
        api.post(
            f"{tenant.scim_base}/Users",
            json=user_body(f"burst{i}@acme.test"),
            headers=tenant.scim_headers,
        )
    assert redis_client.llen("scimsync") == 1


def test_redis_down_write_still_succeeds_event_stays_unpublished(
    api: Any, tenant: TenantHandle, engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import _clear_caches
    from worker import celery_app

    monkeypatch.setenv("SCIMSYNC_REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens there
    _clear_caches()
    monkeypatch.setattr(celery_app, "app", celery_app.make_app())
    response = api.post(
        f"{tenant.scim_base}/Users", json=user_body("down@acme.test"), headers=tenant.scim_headers
    )
    assert response.status_code == 201
    with engine.connect() as conn:
        event = conn.execute(select(change_events)).one()
        assert conn.execute(select(mirror_users.c.id)).scalar_one() == response.json()["id"]
    assert event.published_at is None and event.state == EventState.PENDING


def test_concurrent_creates_of_one_user_name_give_one_201(
    live_server: str, engine: Any, service_env: Any
) -> None:
    tenant = make_tenant(engine)
    results: list[int] = []
    barrier = threading.Barrier(8)

    def create() -> None:
        barrier.wait()
        with httpx.Client(base_url=live_server, timeout=30) as client:
            r = client.post(
                f"{tenant.scim_base}/Users",
                json=user_body("race@acme.test"),
                headers=tenant.scim_headers,
            )
            results.append(r.status_code)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [201] + [409] * 7
    with engine.connect() as conn:
        assert len(conn.execute(select(mirror_users.c.id)).all()) == 1


def test_on_sqlite_the_apply_task_waits_a_moment_for_the_events_that_follow(
    api: Any, tenant: TenantHandle, engine: Any, redis_client: Any
) -> None:
    """SQLite has one writer: a worker applying each event as it comes would hold the lock
    the API's commits wait for. Its task runs a moment (0.1 s) after the first event, to
    apply what arrived meanwhile in one transaction; PostgreSQL applies at once."""
    response = api.post(
        f"{tenant.scim_base}/Users", json=user_body("soon@acme.test"), headers=tenant.scim_headers
    )
    assert response.status_code == 201
    (message,) = [json.loads(m) for m in redis_client.lrange("scimsync", 0, -1)]
    if engine.dialect.name == "sqlite":
        assert message["headers"]["eta"] is not None
    else:
        assert message["headers"]["eta"] is None
