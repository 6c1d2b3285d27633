"""Many new groups in one write (an import's batch, `IngestSession.create_groups`) leave
exactly what one create per group leaves: the same groups, memberships, change events
(with how many members each gained), audit rows and provisioning-trace rows; a member
id the tenant does not hold, or a taken displayName, refuses the batch with nothing of
it committed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import Engine, select

from events.ingest.writes import Kind, Op
from events.scim.resources import parse_group
from reconciler.errors import InvalidValue, Uniqueness
from storage.schema import (
    audit_log,
    change_events,
    mirror_group_members,
    mirror_groups,
    mirror_users,
    trace_refs,
)
from tests.support.source_writes import loaded_tenant, reconcile_session
from tests.support.workspace import group_body, user_body

USERS = [f"user{i}@example.test" for i in range(5)]


def _with_users(engine: Engine, tenant: Any) -> dict[str, str]:
    """The tenant's users (userName -> id), created first as an import does."""
    with reconcile_session(engine, tenant, []) as s:
        results = s.create_users([user_body(u) for u in USERS])
    return {r.record.resource["userName"]: r.record.id for r in results if r.record}


def _bodies(ids: dict[str, str]) -> list[dict[str, Any]]:
    return [
        group_body("Eng", [ids[u] for u in USERS[:3]]),
        group_body("Ops", [ids[u] for u in (*USERS[2:], USERS[2])]),  # one id twice
        group_body("Empty", []),
        {**group_body("Nobody"), "externalId": "ext-nobody"},  # says nothing of members
    ]


def _state(engine: Engine, tenant_id: str) -> dict[str, list[Any]]:
    """What a create leaves, with ids read as names, in a comparable order."""
    with engine.connect() as conn:
        names = dict(
            conn.execute(
                select(mirror_users.c.id, mirror_users.c.user_name).where(
                    mirror_users.c.tenant_id == tenant_id
                )
            )
            .tuples()
            .all()
        )
        groups = conn.execute(
            select(
                mirror_groups.c.id,
                mirror_groups.c.display_name,
                mirror_groups.c.external_id,
                mirror_groups.c.version,
                mirror_groups.c.resource,
            ).where(mirror_groups.c.tenant_id == tenant_id)
        ).all()
        names.update({g.id: g.display_name for g in groups})
        members = conn.execute(
            select(
                mirror_group_members.c.group_id,
                mirror_group_members.c.member_id,
                mirror_group_members.c.member_type,
            ).where(mirror_group_members.c.tenant_id == tenant_id)
        )
        events = conn.execute(
            select(
                change_events.c.id,
                change_events.c.resource_type,
                change_events.c.resource_id,
                change_events.c.operation,
                change_events.c.version,
                change_events.c.payload,
            )
            .where(change_events.c.tenant_id == tenant_id, change_events.c.resource_type == "Group")
            .order_by(change_events.c.id)
        ).all()
        group_of_event = {e.id: names[e.resource_id] for e in events}
        audit = conn.execute(
            select(audit_log.c.actor, audit_log.c.action).where(audit_log.c.tenant_id == tenant_id)
        )
        trace = conn.execute(
            select(trace_refs.c.event_id, trace_refs.c.subject_id, trace_refs.c.change).where(
                trace_refs.c.tenant_id == tenant_id
            )
        )
        return {
            "groups": sorted(repr(tuple(g)[1:]) for g in groups),
            "members": sorted(repr((names[g], names[m], t)) for g, m, t in members),
            "events": [repr((names[e.resource_id], *tuple(e)[3:])) for e in events],
            "audit": sorted(map(repr, audit)),
            "trace": sorted(repr((group_of_event[e], names[u], c)) for e, u, c in trace),
        }


@pytest.mark.parametrize("validated", [False, True], ids=["bodies", "validated"])
def test_a_batch_of_group_creates_leaves_what_one_create_each_leaves(
    engine: Engine, service_env: Any, validated: bool
) -> None:
    one_by_one, batched = loaded_tenant(engine, "A", "a.test"), loaded_tenant(engine, "B", "b.test")
    published: list[Sequence[int]] = []
    singles = _bodies(_with_users(engine, one_by_one))
    with reconcile_session(engine, one_by_one, published) as s:
        for body in singles:
            s.write(Kind.GROUP, Op.CREATE, body)
    bodies: list[Any] = _bodies(_with_users(engine, batched))
    with reconcile_session(engine, batched, published) as s:
        results = s.create_groups([parse_group(b) for b in bodies] if validated else bodies)

    assert [r.record.resource["displayName"] for r in results if r.record] == [
        "Eng",
        "Ops",
        "Empty",
        "Nobody",
    ]
    state = _state(engine, batched.id)
    assert state == _state(engine, one_by_one.id)
    assert len(state["members"]) == 6 and len(state["trace"]) == 6  # Ops: 3, the repeat once
    assert len(published) == 2 and len(published[1]) == 4  # published after commit, once


@pytest.mark.parametrize(
    ("late", "refusal"),
    [
        (group_body("Late", ["no-such-user"]), InvalidValue),
        (group_body("ENG"), Uniqueness),  # displayName is case-insensitive
    ],
    ids=["unknown member", "taken name"],
)
def test_a_refused_group_in_the_batch_commits_nothing(
    engine: Engine, service_env: Any, late: dict[str, Any], refusal: type[Exception]
) -> None:
    tenant = loaded_tenant(engine, "C", "c.test")
    ids = _with_users(engine, tenant)
    with reconcile_session(engine, tenant, []) as s:
        s.create_groups(_bodies(ids)[:1])
    before = _state(engine, tenant.id)
    with pytest.raises(refusal), reconcile_session(engine, tenant, []) as s:
        s.create_groups([group_body("Fresh", [ids[USERS[0]]]), late])
    assert _state(engine, tenant.id) == before
