"""The event pipeline in-process: SCIM writes -> outbox -> drain -> workspace."""

from __future__ import annotations

import random
from typing import Any

import pytest
import structlog
from sqlalchemy import func, select, text

from storage.event_state import EventState
from storage.schema import change_events, dead_letters, group_memberships, members
from tests.support.workspace import TenantHandle, group_body, make_tenant, patch_body, user_body
from worker import pipeline
from worker.pipeline import drain


@pytest.fixture
def tenant(engine: Any, service_env: Any) -> TenantHandle:
    return make_tenant(engine)


def drain_all(engine: Any, tenant: TenantHandle) -> Any:
    return drain(engine, tenant.id, batch_size=500, time_budget=30)


def workspace(engine: Any, tenant_id: str) -> dict[str, Any]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(members.c.email_ci, members.c.status, members.c.scim_user_id).where(
                members.c.tenant_id == tenant_id
            )
        ).all()
        memberships = conn.execute(
            text(
                "SELECT g.name, m.email_ci FROM group_memberships gm "
                "JOIN workspace_groups g ON g.id = gm.group_id AND g.tenant_id = gm.tenant_id "
                "JOIN members m ON m.id = gm.member_id AND m.tenant_id = gm.tenant_id "
                "WHERE gm.tenant_id = :t"
            ),
            {"t": tenant_id},
        ).all()
    return {
        "members": {r.email_ci: r.status for r in rows},
        "linked": {r.email_ci for r in rows if r.scim_user_id},
        "memberships": {(r.name, r.email_ci) for r in memberships},
    }


def test_writes_reach_the_workspace(api: Any, tenant: TenantHandle, engine: Any) -> None:
    inside = api.post(
        f"{tenant.scim_base}/Users", json=user_body("in@acme.test"), headers=tenant.scim_headers
    ).json()
    outside = api.post(
        f"{tenant.scim_base}/Users", json=user_body("out@partner.test"), headers=tenant.scim_headers
    ).json()
    api.post(
        f"{tenant.scim_base}/Groups",
        json=group_body("Eng", [inside["id"], outside["id"]]),
        headers=tenant.scim_headers,
    )
    result = drain_all(engine, tenant)
    assert len(result.applied) == 3 and not result.dead
    state = workspace(engine, tenant.id)
    assert state["members"] == {
        "owner@acme.test": "active",
        "in@acme.test": "active",
        "out@partner.test": "pending",
    }
    assert state["memberships"] == {
        ("Eng (SCIM)", "in@acme.test"),
        ("Eng (SCIM)", "out@partner.test"),
    }
    with engine.connect() as conn:
        pending = conn.execute(
            select(func.count()).where(change_events.c.state == EventState.PENDING)
        )
        assert pending.scalar_one() == 0


def test_duplicates_and_reordering_converge(api: Any, tenant: TenantHandle, engine: Any) -> None:
    ids = [
        api.post(
            f"{tenant.scim_base}/Users",
            json=user_body(f"u{i}@acme.test"),
            headers=tenant.scim_headers,
        ).json()["id"]
        for i in range(6)
    ]
    group = api.post(
        f"{tenant.scim_base}/Groups", json=group_body("Team", ids[:3]), headers=tenant.scim_headers
    ).json()
    api.patch(
        f"{tenant.scim_base}/Users/{ids[0]}",
        headers=tenant.scim_headers,
        json=patch_body({"op": "replace", "value": {"active": False}}),
    )
    api.patch(
        f"{tenant.scim_base}/Groups/{group['id']}",
        headers=tenant.scim_headers,
        json=patch_body({"op": "add", "path": "members", "value": [{"value": ids[4]}]}),
    )
    api.delete(f"{tenant.scim_base}/Users/{ids[5]}", headers=tenant.scim_headers)
    # Deliver every event again, in a shuffled order: duplicates of already-applied work.
    with engine.begin() as conn:
        rows = conn.execute(select(change_events)).all()
        copies = [dict(r._mapping) for r in rows]
        random.Random(7).shuffle(copies)
        for row in copies:
            row.pop("id")
            row.update(state=EventState.PENDING, applied_at=None)
        conn.execute(change_events.insert(), copies)
    drain_all(engine, tenant)
    state = workspace(engine, tenant.id)
    assert state["members"]["u0@acme.test"] == "deactivated"
    assert "u5@acme.test" not in state["members"]
    assert {e for g, e in state["memberships"] if g == "Team (SCIM)"} == {
        "u0@acme.test",
        "u1@acme.test",
        "u2@acme.test",
        "u4@acme.test",
    }
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(dead_letters)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(group_memberships)).scalar_one() == 4


def test_rule_refusal_is_dead_lettered_not_retried(
    api: Any, tenant: TenantHandle, engine: Any
) -> None:
    api.post(
        f"{tenant.scim_base}/Users", json=user_body("ok@acme.test"), headers=tenant.scim_headers
    )
    with engine.begin() as conn:  # SCIM switched off behind the pipeline's back
        conn.execute(text("UPDATE tenants SET scim_enabled = :f"), {"f": False})
    result = drain_all(engine, tenant)
    assert len(result.dead) == 1 and not result.applied and not result.failed
    with engine.connect() as conn:
        letter = conn.execute(select(dead_letters)).one()
        event = conn.execute(select(change_events)).one()
    assert letter.error_code == "scim_disabled" and letter.attempts == 1
    assert event.state == EventState.DEAD


def test_a_dead_letter_is_a_warning_with_its_reason_and_user_name(
    api: Any, tenant: TenantHandle, engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The module's own logger, captured (a logger cached by an earlier test's set-up
    # would not see structlog.testing.capture_logs).
    logged = structlog.testing.LogCapture()
    capturing = structlog.wrap_logger(structlog.testing.CapturingLogger(), processors=[logged])
    monkeypatch.setattr(pipeline, "log", capturing)
    api.post(
        f"{tenant.scim_base}/Users", json=user_body("dl@acme.test"), headers=tenant.scim_headers
    )
    with engine.begin() as conn:
        conn.execute(text("UPDATE tenants SET scim_enabled = :f"), {"f": False})
    drain_all(engine, tenant)
    [warning] = [e for e in logged.entries if e["event"] == "dead_lettered"]
    assert warning["log_level"] == "warning"
    assert warning["userName"] == "dl@acme.test" and warning["error_code"] == "scim_disabled"
    assert "SCIM" in warning["reason"] and warning["tenant_id"] == tenant.id


def test_dead_letter_replay_applies_after_the_cause_is_fixed(
    api: Any, tenant: TenantHandle, engine: Any, redis_client: Any
) -> None:
    from worker.operations import list_dead_letters, replay_dead_letters

    api.post(
        f"{tenant.scim_base}/Users", json=user_body("later@acme.test"), headers=tenant.scim_headers
    )
    with engine.begin() as conn:
        conn.execute(text("UPDATE tenants SET scim_enabled = :f"), {"f": False})
    drain_all(engine, tenant)
    assert len(list_dead_letters()) == 1
    with engine.begin() as conn:
        conn.execute(text("UPDATE tenants SET scim_enabled = :t"), {"t": True})
    assert replay_dead_letters(None)["replayed"] == 1
    assert redis_client.llen("scimsync") >= 1  # the replay queued an apply
    drain_all(engine, tenant)
    assert workspace(engine, tenant.id)["members"]["later@acme.test"] == "active"
    assert list_dead_letters() == []


def test_a_drain_in_short_write_slices_still_applies_every_event_once(
    api: Any, tenant: TenantHandle, engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite a drain sizes its transactions to a write slice so the API's commits
    interleave; however small the slices, every event is applied, once."""
    for n in range(60):
        api.post(
            f"{tenant.scim_base}/Users",
            json=user_body(f"slice{n}@acme.test"),
            headers=tenant.scim_headers,
        )
    claims: list[int] = []
    real_claim = pipeline.outbox.claim

    def recording_claim(conn: Any, tenant_id: str, limit: int) -> Any:
        claims.append(limit)
        return real_claim(conn, tenant_id, limit)

    monkeypatch.setattr(pipeline.outbox, "claim", recording_claim)

    result = drain(engine, tenant.id, batch_size=30, time_budget=30, write_slice=1e-6)

    assert len(result.applied) == 60 and not result.dead
    assert len(workspace(engine, tenant.id)["members"]) == 61  # and the Owner
    if engine.dialect.name == "sqlite":
        # 30, then the smallest batches; the short last one ends the drain (what arrives
        # later has a kick of its own), without a claim that would find nothing.
        assert claims == [30, pipeline.MIN_BATCH, pipeline.MIN_BATCH]
    else:  # PostgreSQL locks rows, not the database: batches are not bounded
        assert claims == [30, 30, 30]
