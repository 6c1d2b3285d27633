"""Full reconcile: each kind of drift injected into the workspace tables is repaired,
exactly that and nothing else, and a second run finds nothing."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, text, update

from storage.schema import group_memberships, group_permissions, members, workspace_groups
from tests.support.workspace import (
    TenantHandle,
    group_body,
    make_tenant,
    user_body,
    workspace_state,
)
from worker.pipeline import drain
from worker.reconcile_jobs import AlreadyRunning, run_reconcile


@pytest.fixture
def synced(api: Any, engine: Any, service_env: Any) -> dict[str, Any]:
    """A tenant in step: 4 SCIM users, a SCIM group of 3, and a native group with permissions."""
    tenant = make_tenant(engine)
    ids = [
        api.post(
            f"{tenant.scim_base}/Users",
            json=user_body(f"r{i}@acme.test", displayName=f"R {i}"),
            headers=tenant.scim_headers,
        ).json()["id"]
        for i in range(4)
    ]
    group = api.post(
        f"{tenant.scim_base}/Groups", json=group_body("Eng", ids[:3]), headers=tenant.scim_headers
    ).json()
    drain(engine, tenant.id, batch_size=500, time_budget=30)
    with engine.begin() as conn:
        conn.execute(
            insert(workspace_groups).values(
                tenant_id=tenant.id,
                id="native-1",
                name="Designers",
                name_ci="designers",
                created_at=text("CURRENT_TIMESTAMP"),
            )
        )
        member = conn.execute(
            select(members.c.id).where(members.c.email_ci == "r3@acme.test")
        ).scalar_one()
        conn.execute(
            insert(group_memberships).values(
                tenant_id=tenant.id,
                group_id="native-1",
                member_id=member,
                source="native",
                created_at=text("CURRENT_TIMESTAMP"),
            )
        )
        conn.execute(
            insert(group_permissions).values(
                tenant_id=tenant.id, group_id="native-1", path="/design", access="write"
            )
        )
    assert run_reconcile(tenant.id)["outcome"] == "in_sync"
    return {"tenant": tenant, "users": ids, "group": group["id"]}


def member_where(email: str) -> Any:
    return members.c.email_ci == email


DRIFTS: dict[str, Any] = {
    "member_missing": lambda c, s: c.execute(delete(members).where(member_where("r0@acme.test"))),
    "wrong_status": lambda c, s: c.execute(
        update(members)
        .where(member_where("r1@acme.test"))
        .values(status="deactivated", status_before_deactivation="active")
    ),
    "wrong_name": lambda c, s: c.execute(
        update(members).where(member_where("r2@acme.test")).values(display_name="Someone Else")
    ),
    "wrong_link": lambda c, s: c.execute(
        update(members).where(member_where("r1@acme.test")).values(scim_user_id=None)
    ),
    "scim_group_missing": lambda c, s: c.execute(
        delete(workspace_groups).where(workspace_groups.c.name == "Eng (SCIM)")
    ),
    "scim_group_misnamed": lambda c, s: c.execute(
        update(workspace_groups)
        .where(workspace_groups.c.name == "Eng (SCIM)")
        .values(name="Renamed", name_ci="renamed")
    ),
    "membership_missing": lambda c, s: c.execute(
        delete(group_memberships).where(
            group_memberships.c.source == "scim",
            group_memberships.c.member_id.in_(
                select(members.c.id).where(member_where("r0@acme.test"))
            ),
        )
    ),
}


@pytest.mark.parametrize("drift", sorted(DRIFTS))
def test_drift_is_repaired_and_second_run_is_clean(
    synced: dict[str, Any], engine: Any, drift: str
) -> None:
    tenant: TenantHandle = synced["tenant"]
    before = workspace_state(engine, tenant.id)
    with engine.begin() as conn:
        DRIFTS[drift](conn, synced)
    assert workspace_state(engine, tenant.id) != before
    dry = run_reconcile(tenant.id, dry_run=True)
    assert dry["outcome"] == "drift_found" and sum(dry["counts"].values()) > 0
    report = run_reconcile(tenant.id)
    assert report["outcome"] == "repaired", report
    assert workspace_state(engine, tenant.id) == before
    assert run_reconcile(tenant.id)["outcome"] == "in_sync"


def test_extra_member_and_extra_group_and_extra_membership(
    synced: dict[str, Any], engine: Any
) -> None:
    tenant: TenantHandle = synced["tenant"]
    before = workspace_state(engine, tenant.id)
    with engine.begin() as conn:
        conn.execute(
            insert(members).values(
                tenant_id=tenant.id,
                id="ghost",
                email="ghost@acme.test",
                email_ci="ghost@acme.test",
                status="active",
                role="member",
                has_password=False,
                scim_user_id="no-such-user",
                created_at=text("CURRENT_TIMESTAMP"),
                updated_at=text("CURRENT_TIMESTAMP"),
            )
        )
        conn.execute(
            insert(workspace_groups).values(
                tenant_id=tenant.id,
                id="ghost-group",
                name="Old (SCIM)",
                name_ci="old (scim)",
                scim_group_id="no-such-group",
                created_at=text("CURRENT_TIMESTAMP"),
            )
        )
        eng = conn.execute(
            select(workspace_groups.c.id).where(workspace_groups.c.name == "Eng (SCIM)")
        ).scalar_one()
        r3 = conn.execute(select(members.c.id).where(member_where("r3@acme.test"))).scalar_one()
        conn.execute(
            insert(group_memberships).values(
                tenant_id=tenant.id,
                group_id=eng,
                member_id=r3,
                source="scim",
                created_at=text("CURRENT_TIMESTAMP"),
            )
        )
    report = run_reconcile(tenant.id)
    assert report["counts"].get("user_removed") == 1
    assert report["counts"].get("group_deleted") == 1
    assert workspace_state(engine, tenant.id) == before
    assert run_reconcile(tenant.id)["outcome"] == "in_sync"


def test_dry_run_writes_nothing(synced: dict[str, Any], engine: Any) -> None:
    tenant: TenantHandle = synced["tenant"]
    with engine.begin() as conn:
        DRIFTS["wrong_status"](conn, synced)
    drifted = workspace_state(engine, tenant.id)
    report = run_reconcile(tenant.id, dry_run=True)
    assert report["counts"] == {"user_reactivated": 1}
    assert report["items"][0]["kind"] == "user_reactivated"
    assert workspace_state(engine, tenant.id) == drifted


def test_safety_valve_halts_mass_deactivation(synced: dict[str, Any], engine: Any) -> None:
    tenant: TenantHandle = synced["tenant"]
    with engine.begin() as conn:  # the IdP view says everyone is gone (a broken mirror)
        conn.execute(text("DELETE FROM mirror_group_members"))
        conn.execute(text("DELETE FROM mirror_user_values"))
        conn.execute(text("DELETE FROM mirror_users"))
    before = workspace_state(engine, tenant.id)
    report = run_reconcile(tenant.id)
    assert report["outcome"] == "halted" and "nothing applied" in report["detail"]
    assert workspace_state(engine, tenant.id) == before
    forced = run_reconcile(tenant.id, force=True)
    assert forced["outcome"] == "repaired" and forced["counts"]["user_removed"] == 4


def test_safety_valve_halts_a_source_that_would_empty_the_mirror(
    synced: dict[str, Any], engine: Any, tmp_path: Path
) -> None:
    """A truncated snapshot (one user of four): the mirror repair is planned, and the same
    valve stops it before anything is written."""
    tenant: TenantHandle = synced["tenant"]
    path = tmp_path / "truncated.ndjson"
    path.write_text(json.dumps(user_body("r0@acme.test", displayName="R 0")))
    before = workspace_state(engine, tenant.id)
    with engine.connect() as conn:
        mirrored = conn.execute(text("SELECT count(*) FROM mirror_users")).scalar_one()

    report = run_reconcile(tenant.id, source=f"file:{path}")

    assert report["outcome"] == "halted" and "nothing applied" in report["detail"]
    assert report["destructive"] == 3
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM mirror_users")).scalar_one() == mirrored
    assert workspace_state(engine, tenant.id) == before


def test_snapshot_file_source_repairs_mirror_and_workspace(
    synced: dict[str, Any], engine: Any, api: Any, tmp_path: Path
) -> None:
    tenant: TenantHandle = synced["tenant"]
    listing = api.get(f"{tenant.scim_base}/Users", headers=tenant.scim_headers).json()
    users = [{k: v for k, v in u.items() if k != "meta"} for u in listing["Resources"]]
    users.append({k: v for k, v in user_body("missed@acme.test").items()} | {"id": "src-9"})
    groups = api.get(f"{tenant.scim_base}/Groups", headers=tenant.scim_headers).json()["Resources"]
    groups[0]["members"].append({"value": "src-9"})
    path = tmp_path / "snapshot.ndjson"
    path.write_text("\n".join(json.dumps(r) for r in [*groups, *users]))
    report = run_reconcile(tenant.id, source=f"file:{path}")
    assert report["outcome"] == "repaired", report
    assert report["counts"]["mirror_repaired"] == 2  # the new user, the group's members
    assert report["counts"]["user_created"] == 1
    found = api.get(
        f"{tenant.scim_base}/Users",
        params={"filter": 'userName eq "missed@acme.test"'},
        headers=tenant.scim_headers,
    ).json()
    assert found["totalResults"] == 1
    state = workspace_state(engine, tenant.id)
    assert ("Eng (SCIM)", "missed@acme.test", "scim") in state["memberships"]
    assert run_reconcile(tenant.id, source=f"file:{path}")["outcome"] == "in_sync"


def test_two_concurrent_runs_never_overlap(synced: dict[str, Any], engine: Any) -> None:
    """Two beats (or operators) asking at once: one runs, the other is refused."""
    from worker.reconcile_jobs import lease_for

    tenant: TenantHandle = synced["tenant"]
    holder = lease_for(tenant.id)
    assert holder.acquire()
    try:
        with pytest.raises(AlreadyRunning):
            run_reconcile(tenant.id)
    finally:
        holder.release()
    results: list[str] = []

    def attempt() -> None:
        try:
            results.append(run_reconcile(tenant.id)["outcome"])
        except AlreadyRunning:
            results.append("refused")

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) in (["in_sync", "refused"], ["in_sync", "in_sync"])
