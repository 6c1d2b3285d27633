"""The relay: events Redis never got are republished; tenants whose message was lost
are kicked again; transient database errors are retried, not lost."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from storage.clock import utcnow
from storage.schema import change_events
from tests.support.workspace import make_tenant, user_body


@pytest.fixture
def tenant(engine: Any, service_env: Any) -> Any:
    return make_tenant(engine)


def test_unpublished_events_are_republished(
    api: Any, tenant: Any, engine: Any, redis_client: Any
) -> None:
    from worker.tasks import relay

    api.post(
        f"{tenant.scim_base}/Users", json=user_body("lost@acme.test"), headers=tenant.scim_headers
    )
    redis_client.flushdb()  # Redis lost the message (restart without persistence)
    old = change_events.c.received_at - timedelta(seconds=60)
    with engine.begin() as conn:
        conn.execute(update(change_events).values(published_at=None, received_at=old))
    assert relay() == {"republished": 1, "kicked": 1}
    assert redis_client.llen("scimsync") == 1
    with engine.connect() as conn:
        assert conn.execute(select(change_events.c.published_at)).scalar_one() is not None
    assert relay() == {"republished": 0, "kicked": 0}


def test_stalled_tenants_are_kicked_again(
    api: Any, tenant: Any, engine: Any, redis_client: Any
) -> None:
    from worker.tasks import relay

    api.post(
        f"{tenant.scim_base}/Users", json=user_body("stuck@acme.test"), headers=tenant.scim_headers
    )
    redis_client.flushdb()
    with engine.begin() as conn:
        conn.execute(
            update(change_events).values(
                published_at=change_events.c.published_at - timedelta(minutes=5)
            )
        )
    assert relay()["kicked"] == 1
    assert redis_client.llen("scimsync") == 1


def test_an_event_whose_writer_died_before_publishing_is_kicked_within_the_grace(
    api: Any, tenant: Any, engine: Any, redis_client: Any
) -> None:
    from worker.tasks import relay

    api.post(
        f"{tenant.scim_base}/Users", json=user_body("died@acme.test"), headers=tenant.scim_headers
    )
    redis_client.flushdb()  # as if the API died after commit, before its kick reached Redis
    ten_seconds_ago = utcnow() - timedelta(seconds=10)
    with engine.begin() as conn:  # past the 3 s grace, not yet 30 s stalled
        conn.execute(
            update(change_events).values(received_at=ten_seconds_ago, published_at=ten_seconds_ago)
        )
    assert relay() == {"republished": 0, "kicked": 1}
    assert redis_client.llen("scimsync") == 1
    assert relay() == {"republished": 0, "kicked": 0}  # its apply is queued: no duplicate
    assert redis_client.llen("scimsync") == 1


def test_transient_database_error_is_retried_inside_the_call(
    api: Any, tenant: Any, engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from storage import outbox
    from worker import pipeline

    api.post(
        f"{tenant.scim_base}/Users", json=user_body("flaky@acme.test"), headers=tenant.scim_headers
    )
    real_claim, failures = outbox.claim, {"left": 2}

    def flaky_claim(*args: Any, **kwargs: Any) -> Any:
        if failures["left"]:
            failures["left"] -= 1
            raise OperationalError("SELECT", {}, Exception("server closed the connection"))
        return real_claim(*args, **kwargs)

    monkeypatch.setattr(outbox, "claim", flaky_claim)
    result = pipeline.drain(engine, tenant.id, batch_size=100, time_budget=10)
    assert len(result.applied) == 1 and failures["left"] == 0
