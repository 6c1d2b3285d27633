"""The one write path publishes after commit, and only what committed, on real SQL and Redis.

The app is built around a publisher that wraps the real one (worker/publish.py, which
queues the tenant's apply task in Redis) and notes, when it is called, whether a
separate connection already sees the events: it must, every time.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from events.app import build_runtime, create_app
from events.hooks.routes import SIGNATURE_HEADER, signature_header
from events.ingest.service import ingest_session
from events.ingest.writes import Kind, Op
from storage import tenants
from storage.db import unit_of_work
from storage.schema import change_events, mirror_users
from tests.support.workspace import (
    TenantHandle,
    issue_okta_secret,
    issue_webhook_secret,
    make_tenant,
    user_body,
)
from worker import celery_app
from worker import publish as publishing
from worker.settings import get_settings

QUEUE = celery_app.QUEUE


@dataclass(frozen=True)
class Publication:
    tenant_id: str
    event_ids: list[int]
    committed: int  # how many of them another connection could read at that moment


class Publications(list[Publication]):
    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.engine = engine
        self.real = partial(publishing.publish, engine)

    def __call__(self, tenant_id: str, event_ids: Sequence[int]) -> object:
        with self.engine.connect() as conn:
            seen = conn.execute(
                select(func.count())
                .select_from(change_events)
                .where(change_events.c.id.in_(list(event_ids)))
            ).scalar_one()
        self.append(Publication(tenant_id, list(event_ids), int(seen)))
        return self.real(tenant_id, event_ids)


@pytest.fixture
def publications(
    service_env: Any, engine: Engine, redis_client: Any, monkeypatch: pytest.MonkeyPatch
) -> Publications:
    # The Celery app is made when worker/ is first imported, from the settings of that
    # moment: make one for the test Redis.
    monkeypatch.setattr(publishing, "app", celery_app.make_app())
    return Publications(engine)


@pytest.fixture
def client(publications: Publications) -> Iterator[TestClient]:
    runtime = dataclasses.replace(build_runtime(get_settings()), publish=publications)
    with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
        yield client


def _events(engine: Engine, tenant_id: str) -> list[int]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(change_events.c.id)
                .where(change_events.c.tenant_id == tenant_id)
                .order_by(change_events.c.id)
            ).scalars()
        )


def _queued(redis_client: Any) -> list[dict[str, Any]]:
    return [json.loads(message) for message in redis_client.lrange(QUEUE, 0, -1)]


def test_a_committed_write_kicks_the_worker_once_it_is_visible(
    client: TestClient, engine: Engine, redis_client: Any, publications: Publications
) -> None:
    tenant = make_tenant(engine)
    created = client.post(
        f"{tenant.scim_base}/Users", json=user_body("ada@acme.test"), headers=tenant.scim_headers
    )
    assert created.status_code == 201, created.text
    events = _events(engine, tenant.id)
    assert publications == [Publication(tenant.id, events, committed=len(events))]
    (message,) = _queued(redis_client)
    assert message["headers"]["task"] == publishing.APPLY_TASK
    assert tenant.id in message["headers"]["argsrepr"]
    assert redis_client.exists(publishing.kick_key(tenant.id))


def _signed_push(client: TestClient, engine: Engine, tenant: TenantHandle, payload: Any) -> Any:
    with unit_of_work(engine) as conn:
        secret = issue_webhook_secret(conn, tenant.id)
    body = json.dumps(payload).encode()
    return client.post(
        f"/hooks/v1/{tenant.id}/events",
        content=body,
        headers={
            SIGNATURE_HEADER: signature_header(secret, int(time.time()), body),
            "Content-Type": "application/json",
        },
    )


def test_a_rolled_back_delivery_publishes_nothing(
    client: TestClient, engine: Engine, redis_client: Any, publications: Publications
) -> None:
    """A canonical delivery applies all its events or none: the first event's user and
    change event are written, the second event is refused, the transaction rolls back,
    and nothing reaches Redis."""
    tenant = make_tenant(engine)
    delivery = {
        "events": [
            {"id": "e1", "type": "user.upserted", "data": {"userName": "ada@acme.test"}},
            {"id": "e2", "type": "user.deactivated", "data": {"userName": "nobody@acme.test"}},
        ]
    }
    refused = _signed_push(client, engine, tenant, delivery)
    assert refused.status_code == 404, refused.text
    assert _events(engine, tenant.id) == []
    assert publications == []
    assert _queued(redis_client) == [] and not redis_client.exists(publishing.kick_key(tenant.id))


def test_only_the_committed_events_of_a_delivery_are_published(
    client: TestClient, engine: Engine, publications: Publications
) -> None:
    """An Okta hook event is applied in a savepoint: one that fails after writing (a user
    created, then its group refused by the Google tenant's rule 10) takes its change
    events with it, and the publisher is never handed their ids."""
    tenant = make_tenant(engine, idp="google")
    with unit_of_work(engine) as conn:
        secret = issue_okta_secret(conn, tenant.id)

    def okta_event(uuid: str, event_type: str, *targets: dict[str, Any]) -> dict[str, Any]:
        return {"uuid": uuid, "eventType": event_type, "target": list(targets)}

    eve = {"id": "00u1", "type": "User", "alternateId": "eve@acme.test"}
    sam = {"id": "00u2", "type": "User", "alternateId": "sam@acme.test"}
    group = {"id": "00g1", "type": "UserGroup", "displayName": "Platform"}
    delivery = {
        "data": {
            "events": [
                okta_event("o1", "group.user_membership.add", eve, group),
                okta_event("o2", "user.lifecycle.create", sam),
            ]
        }
    }
    answer = client.post(
        f"/hooks/v1/{tenant.id}/okta", json=delivery, headers={"Authorization": secret}
    )
    assert answer.json() == {"applied": 1, "ignored": 0, "rejected": 1, "replayed": 0}
    with engine.connect() as conn:
        users = list(conn.execute(select(mirror_users.c.user_name)).scalars())
    assert users == ["sam@acme.test"]  # eve's creation went with the refused event
    events = _events(engine, tenant.id)
    assert len(events) == 1
    assert publications == [Publication(tenant.id, events, committed=1)]


def test_a_session_publishes_after_its_commit_and_never_after_a_rollback(
    engine: Engine, service_env: Any
) -> None:
    handle = make_tenant(engine)
    with unit_of_work(engine, write=False) as conn:
        tenant = tenants.get(conn, handle.id)
    published: list[tuple[str, tuple[int, ...]]] = []

    def publish(tenant_id: str, event_ids: Sequence[int]) -> None:
        published.append((tenant_id, tuple(event_ids)))

    with (
        pytest.raises(RuntimeError, match="before the commit"),
        ingest_session(engine, tenant, actor="test", publish=publish) as session,
    ):
        session.write(Kind.USER, Op.CREATE, user_body("gone@acme.test"))
        assert session.event_ids and published == []
        raise RuntimeError("after the write, before the commit")
    assert published == [] and _events(engine, handle.id) == []

    with ingest_session(engine, tenant, actor="test", publish=publish) as session:
        session.write(Kind.USER, Op.CREATE, user_body("kept@acme.test"))
        assert published == []  # not yet: the transaction is still open
    assert published == [(handle.id, tuple(_events(engine, handle.id)))]
