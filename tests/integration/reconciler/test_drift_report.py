"""The drift report names every item with its consequence: the IdP's view (the mirror)
moves on while the workspace does not (pushes not applied yet), and a dry run must say,
item by item, what the real run then does."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from storage import reconcile_items
from storage.db import unit_of_work
from storage.schema import reconcile_runs
from tests.support.workspace import (
    TenantHandle,
    group_body,
    make_tenant,
    patch_body,
    user_body,
    workspace_state,
)
from worker.cli import main
from worker.cli.reconcile import EXIT_DRIFT, EXIT_HALTED, EXIT_OK, EXIT_USAGE
from worker.pipeline import drain
from worker.reconcile_jobs import run_reconcile


@pytest.fixture
def drifted(api: Any, engine: Any, service_env: Any) -> dict[str, Any]:
    """Six members in step with a group Eng of three; then the IdP creates a user, deletes
    one, deactivates one, renames Eng and drops a member from it, all unapplied."""
    tenant = make_tenant(engine)
    scim, headers = tenant.scim_base, tenant.scim_headers
    ids = {
        f"r{i}": api.post(
            f"{scim}/Users", json=user_body(f"r{i}@acme.test"), headers=headers
        ).json()["id"]
        for i in range(6)
    }
    eng = api.post(
        f"{scim}/Groups", json=group_body("Eng", [ids["r0"], ids["r1"], ids["r2"]]), headers=headers
    ).json()["id"]
    drain(engine, tenant.id, batch_size=500, time_budget=30)
    assert run_reconcile(tenant.id)["outcome"] == "in_sync"
    in_step = workspace_state(engine, tenant.id)

    api.post(f"{scim}/Users", json=user_body("new@partner.test"), headers=headers)
    assert api.delete(f"{scim}/Users/{ids['r3']}", headers=headers).status_code == 204
    off = patch_body({"op": "replace", "path": "active", "value": False})
    assert api.patch(f"{scim}/Users/{ids['r1']}", json=off, headers=headers).status_code == 200
    rename = patch_body(
        {"op": "replace", "path": "displayName", "value": "Engineering"},
        {"op": "remove", "path": f'members[value eq "{ids["r2"]}"]'},
    )
    assert api.patch(f"{scim}/Groups/{eng}", json=rename, headers=headers).status_code in (200, 204)
    assert workspace_state(engine, tenant.id) == in_step  # nothing applied yet
    return {"tenant": tenant, "ids": ids, "eng": eng}


def stored_items(engine: Any, run_id: int) -> list[dict[str, Any]]:
    with unit_of_work(engine, write=False) as conn:
        rows = reconcile_items.list_items(conn, run_id, limit=10_000)
    return [{k: v for k, v in row.items() if k != "seq"} for row in rows]


def by_kind(items: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        found.setdefault(item["kind"], []).append(item)
    return found


def test_dry_run_names_each_item_and_the_real_run_applies_exactly_those(
    drifted: dict[str, Any], engine: Any
) -> None:
    tenant: TenantHandle = drifted["tenant"]
    ids = drifted["ids"]
    dry = run_reconcile(tenant.id, dry_run=True)
    assert dry["outcome"] == "drift_found"
    items = stored_items(engine, dry["run_id"])
    kinds = by_kind(items)
    assert dry["counts"] == {kind: len(found) for kind, found in kinds.items()}
    assert sorted(kinds) == [
        "group_renamed",
        "membership_removed",
        "user_created",
        "user_deactivated",
        "user_removed",
    ]
    (created,) = kinds["user_created"]
    assert created["name"] == "new@partner.test" and created["after"]["status"] == "pending"
    assert "Pending" in created["consequence"] and "invitation" in created["consequence"]
    (removed,) = kinds["user_removed"]
    assert (removed["scim_id"], removed["name"]) == (ids["r3"], "r3@acme.test")
    assert removed["before"]["status"] == "active" and removed["destructive"] is True
    (deactivated,) = kinds["user_deactivated"]
    assert deactivated["scim_id"] == ids["r1"]
    assert (deactivated["before"], deactivated["after"]) == (
        {"status": "active"},
        {"status": "deactivated"},
    )
    assert "not billed" in deactivated["consequence"]
    assert "keeps its 1 group" in deactivated["consequence"]
    (renamed,) = kinds["group_renamed"]
    assert renamed["before"] == {"name": "Eng (SCIM)"}
    assert renamed["consequence"] == "group renamed to 'Engineering (SCIM)'"
    (left,) = kinds["membership_removed"]
    assert left["before"]["member"] == "r2@acme.test" and left["scim_id"] == drifted["eng"]

    real = run_reconcile(tenant.id, force=True)
    assert real["outcome"] == "repaired" and real["counts"] == dry["counts"]
    assert stored_items(engine, real["run_id"]) == items  # the same items, in the same order
    state = workspace_state(engine, tenant.id)
    assert "r3@acme.test" not in {m[0] for m in state["members"]}
    again = run_reconcile(tenant.id, dry_run=True)
    assert again["outcome"] == "in_sync" and again["drift"] == 0
    assert stored_items(engine, again["run_id"]) == []


def test_a_halted_run_lists_exactly_the_members_it_would_have_removed(
    drifted: dict[str, Any], engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant: TenantHandle = drifted["tenant"]
    before = workspace_state(engine, tenant.id)
    monkeypatch.setenv("SCIMSYNC_RECONCILE_SAFETY_RATIO", "0.1")
    from worker.settings import get_settings

    get_settings.cache_clear()
    halted = run_reconcile(tenant.id)
    assert halted["outcome"] == "halted" and "nothing applied" in halted["detail"]
    listed = {(i["kind"], i["name"]) for i in halted["would_remove_or_deactivate"]}
    assert listed == {("user_removed", "r3@acme.test"), ("user_deactivated", "r1@acme.test")}
    assert halted["destructive"] == 2
    assert workspace_state(engine, tenant.id) == before


def cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_exit_codes_show_and_list(drifted: dict[str, Any], engine: Any, redis_client: Any) -> None:
    tenant: TenantHandle = drifted["tenant"]
    bad = cli("reconcile", tenant.id, "--source", "file:/no/such/export.ndjson")
    assert bad.exit_code == EXIT_USAGE and "no snapshot file" in bad.output
    typo = cli("reconcile", tenant.id, "--source", "mirorr")
    assert typo.exit_code == EXIT_USAGE
    with engine.connect() as conn:  # neither was recorded as a (failed) run
        runs_before = len(conn.execute(select(reconcile_runs.c.id)).all())

    dry = cli("reconcile", tenant.id, "--dry-run")
    assert dry.exit_code == EXIT_DRIFT, dry.output
    assert "user_deactivated" in dry.output and "r1@acme.test" in dry.output
    assert "no drift" not in dry.output
    halted = cli("reconcile", tenant.id, "--json")
    assert halted.exit_code == EXIT_HALTED
    run_id = json.loads(halted.output)["run_id"]

    lines = cli("reconcile", "show", str(run_id), "--ndjson").output.splitlines()
    assert len(lines) == 5 and {json.loads(line)["kind"] for line in lines} >= {"user_removed"}
    shown = json.loads(cli("reconcile", "show", str(run_id), "--json", "--destructive").output)
    assert shown["outcome"] == "halted" and len(shown["items"]) == 2
    human = cli("reconcile", "show", str(run_id), "--kind", "group_renamed").output
    assert "Engineering (SCIM)" in human and "r3@acme.test" not in human

    listed = json.loads(cli("reconcile", "list", tenant.id, "--json").output)
    assert [r["outcome"] for r in listed[:2]] == ["halted", "drift_found"]
    assert len(listed) == runs_before + 2
    missing = cli("reconcile", "show", "999999")
    assert missing.exit_code == 1 and "no reconcile run 999999" in missing.output
    unknown = cli("reconcile", "no-such-tenant", "--json")
    assert unknown.exit_code == 1 and json.loads(unknown.output)["error"] == "not_found"
    assert cli("reconcile", tenant.id, "--force").exit_code == EXIT_OK
    assert cli("reconcile", tenant.id).exit_code == EXIT_OK


def test_admin_api_pages_runs_and_items(drifted: dict[str, Any], api: Any, engine: Any) -> None:
    tenant: TenantHandle = drifted["tenant"]
    other = make_tenant(engine, name="Other", domains=("other.test",))
    dry = run_reconcile(tenant.id, dry_run=True)
    base = f"/api/v1/workspaces/{tenant.id}/reconcile-runs"
    admin = {"Authorization": f"Bearer {tenant.admin_token}"}

    first = api.get(base, params={"limit": 1}, headers=admin).json()
    assert [r["id"] for r in first["runs"]] == [dry["run_id"]]
    older = api.get(base, params={"before": first["next_before"]}, headers=admin).json()
    assert older["runs"] and all(r["id"] < dry["run_id"] for r in older["runs"])
    run = api.get(f"{base}/{dry['run_id']}", headers=admin).json()
    assert run["outcome"] == "drift_found" and run["item_count"] == 5

    seen: list[dict[str, Any]] = []
    after = -1
    while after is not None:
        page = api.get(
            f"{base}/{dry['run_id']}/items", params={"limit": 2, "after": after}, headers=admin
        ).json()
        seen += page["items"]
        after = page["next_after"]
    assert len(seen) == 5 == page["total"]
    assert [i["kind"] for i in seen] == [i["kind"] for i in stored_items(engine, dry["run_id"])]
    only = api.get(
        f"{base}/{dry['run_id']}/items", params={"kind": "user_removed"}, headers=admin
    ).json()
    assert [i["name"] for i in only["items"]] == ["r3@acme.test"]

    not_yours = {"Authorization": f"Bearer {other.admin_token}"}
    other_base = f"/api/v1/workspaces/{other.id}/reconcile-runs"
    assert api.get(f"{other_base}/{dry['run_id']}", headers=not_yours).status_code == 404
    assert api.get(f"{base}/{dry['run_id']}", headers=not_yours).status_code == 401

    # An id beyond a 64-bit integer is a refusal at the boundary (schemathesis found a 500).
    huge = 2**63
    for path, params in (
        (f"{base}/{huge}", {}),
        (f"{base}/{huge}/items", {}),
        (base, {"before": huge}),
        (f"{base}/{dry['run_id']}/items", {"after": huge}),
    ):
        assert api.get(path, params=params, headers=admin).status_code == 400, path
