"""Many new users in one write (an import's batch, `IngestSession.create_users`) leave
exactly what one create per user leaves: the same mirror rows and values, one change
event each at version 1, the same audit rows; and a taken userName or externalId is the
same 409 `uniqueness`, naming the attribute, with nothing of the batch committed. The
bodies may come already validated (`ParsedUser`) with the same result."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import Engine, select

from events.ingest.service import ingest_session
from events.ingest.writes import Kind, Op
from events.scim.resources import parse_user
from reconciler.errors import Uniqueness
from storage.schema import audit_log, change_events, mirror_user_values, mirror_users
from tests.support.source_writes import loaded_tenant, reconcile_session
from tests.support.workspace import user_body


def _state(engine: Engine, tenant_id: str) -> dict[str, list[Any]]:
    """What a create leaves, without ids and timestamps, in a comparable order."""
    with engine.connect() as conn:
        users = conn.execute(
            select(
                mirror_users.c.user_name,
                mirror_users.c.external_id,
                mirror_users.c.version,
                mirror_users.c.resource,
                mirror_users.c.has_password,
            ).where(mirror_users.c.tenant_id == tenant_id)
        )
        values = conn.execute(
            select(
                mirror_user_values.c.attr, mirror_user_values.c.position, mirror_user_values.c.value
            ).where(mirror_user_values.c.tenant_id == tenant_id)
        )
        events = conn.execute(
            select(change_events.c.operation, change_events.c.version, change_events.c.payload)
            .where(change_events.c.tenant_id == tenant_id)
            .order_by(change_events.c.id)
        )
        audit = conn.execute(
            select(audit_log.c.actor, audit_log.c.action).where(audit_log.c.tenant_id == tenant_id)
        )
        return {
            "users": sorted(map(repr, users)),
            "values": sorted(map(repr, values)),
            "events": [repr(e) for e in events],
            "audit": sorted(map(repr, audit)),
        }


def _bodies() -> list[dict[str, Any]]:
    return [
        user_body(f"user{i}@example.test", externalId=f"ext-{i}", password="Pw-123456789")
        if i % 2
        else user_body(f"user{i}@example.test")
        for i in range(6)
    ]


@pytest.mark.parametrize("validated", [False, True], ids=["bodies", "validated"])
def test_a_batch_of_creates_leaves_what_one_create_each_leaves(
    engine: Engine, service_env: Any, validated: bool
) -> None:
    """`validated`: the bodies come as a reconcile's compare parsed them (not parsed again)."""
    one_by_one, batched = loaded_tenant(engine, "A", "a.test"), loaded_tenant(engine, "B", "b.test")
    published: list[Sequence[int]] = []

    def session(tenant: Any) -> Any:
        return reconcile_session(engine, tenant, published)

    with session(one_by_one) as s:
        for body in _bodies():
            s.write(Kind.USER, Op.CREATE, body)
    users: list[Any] = [parse_user(b) for b in _bodies()] if validated else _bodies()
    with session(batched) as s:
        results = s.create_users(users)
    assert [r.record.resource["userName"] for r in results if r.record] == [
        b["userName"] for b in _bodies()
    ]
    assert _state(engine, one_by_one.id) == _state(engine, batched.id)
    assert len(published) == 2 and len(published[1]) == 6  # published after commit, once


@pytest.mark.parametrize(
    ("clash", "attribute"),
    [
        ({"userName": "USER1@example.test"}, "userName"),  # case-insensitive
        ({"externalId": "ext-3"}, "externalId"),
    ],
)
def test_a_taken_value_in_the_batch_is_uniqueness_and_nothing_commits(
    engine: Engine, service_env: Any, clash: dict[str, str], attribute: str
) -> None:
    tenant = loaded_tenant(engine, "C", "c.test")
    with ingest_session(engine, tenant, actor="t", publish=lambda *_: None) as s:
        s.create_users(_bodies())
    before = _state(engine, tenant.id)
    late = {**user_body("late@example.test"), **clash}
    with (
        pytest.raises(Uniqueness, match=attribute),
        ingest_session(engine, tenant, actor="t", publish=lambda *_: None) as s,
    ):
        s.create_users([user_body("fresh@example.test"), late])
    assert _state(engine, tenant.id) == before
