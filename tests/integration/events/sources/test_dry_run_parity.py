"""A dry run over a source and the real run that follows list the same items.

Both plan the workspace against the mirror as the source would leave it (the run's
planned mirror): the dry run names every member and group consequence, the real run
applies exactly those, and the run after it finds nothing. New users and groups keep
the ids the dry run planned for them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from events.sources import mirror_repair
from storage.schema import members, mirror_users, planned_group_members, planned_users
from tests.integration.events.sources.test_file_source import export, member_emails
from tests.support.workspace import group_body, make_tenant, user_body
from worker.cli import main
from worker.reconcile_jobs import run_reconcile

ITEM_FIELDS = ("kind", "resource_type", "scim_id", "name", "before", "after", "consequence")


def items_of(run_id: int) -> list[dict[str, Any]]:
    """Every item of a run, as `scimsync reconcile show RUN --ndjson` prints them."""
    shown = CliRunner().invoke(main, ["reconcile", "show", str(run_id), "--ndjson"])
    assert shown.exit_code == 0, shown.output
    lines = [json.loads(line) for line in shown.stdout.splitlines() if line.strip()]
    return [{f: item[f] for f in (*ITEM_FIELDS, "destructive")} for item in lines]


def reconcile(tenant_id: str, source: str, *flags: str) -> dict[str, Any]:
    ran = CliRunner().invoke(main, ["reconcile", tenant_id, "--source", source, "--json", *flags])
    assert ran.exit_code in (0, 3, 4), ran.output
    report: dict[str, Any] = json.loads(ran.stdout)
    return report


def write(path: Path, users: list[dict[str, Any]], groups: list[dict[str, Any]]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in [*users, *groups]))
    return f"file:{path}"


def person(name: str, **extra: Any) -> dict[str, Any]:
    return {**user_body(f"{name}@acme.test", **extra), "id": f"src-{name}"}


def team(name: str, people: list[str]) -> dict[str, Any]:
    return {**group_body(name, [f"src-{p}" for p in people]), "id": f"src-{name}"}


def test_every_kind_of_drift_is_named_alike_by_the_dry_run_and_the_real_run(
    engine: Any, service_env: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mirror_repair, "BATCH", 4)  # several batches of each kind
    tenant = make_tenant(engine)
    names = [f"p{i}" for i in range(12)]
    before_users = [person(n, active=n != "p3") for n in names]
    before_groups = [team("Eng", names[:5]), team("Ops", names[5:8]), team("Old", names[8:10])]
    first = write(tmp_path / "a.ndjson", before_users, before_groups)
    assert reconcile(tenant.id, first)["outcome"] == "imported"
    after_users = [
        person("p0", displayName="Pat Zero Renamed"),  # changed
        *[person(n, active=n != "p4") for n in names[1:11]],  # p3 back, p4 off; p11 gone
        person("new1"),
        person("new2"),  # created
    ]
    after_groups = [
        team("Eng", ["p0", "p1", "p2", "new1"]),  # p3, p4 leave; new1 joins
        team("Ops", names[5:8]),  # unchanged
        team("Sales", ["new2", "p9"]),  # a new group with a new and an old member
    ]  # "Old" deleted
    later = write(tmp_path / "b.ndjson", after_users, after_groups)

    dry = reconcile(tenant.id, later, "--dry-run")
    planned = items_of(dry["run_id"])
    real = reconcile(tenant.id, later)
    applied = items_of(real["run_id"])

    assert dry["outcome"] == "drift_found" and real["outcome"] == "repaired"
    assert applied == planned
    assert dry["counts"] == real["counts"]
    kinds = {(i["kind"], i["name"]) for i in planned}
    assert {
        ("user_changed", "p0@acme.test"),
        ("user_reactivated", "p3@acme.test"),
        ("user_deactivated", "p4@acme.test"),
        ("user_removed", "p11@acme.test"),
        ("user_created", "new1@acme.test"),
        ("user_created", "new2@acme.test"),
        ("group_created", "Sales"),
        ("group_deleted", "Old (SCIM)"),
        ("membership_removed", "Eng"),
    } <= kinds, sorted(kinds)
    destructive = sorted(i["name"] for i in planned if i["destructive"])
    assert destructive == ["p11@acme.test", "p4@acme.test"]  # each member once
    statuses = member_emails(engine, tenant.id)
    assert statuses["p3@acme.test"] == "active" and statuses["p4@acme.test"] == "deactivated"
    assert "p11@acme.test" not in statuses and statuses["new2@acme.test"] == "active"
    with engine.connect() as conn:  # the ids the dry run named are the mirror's now
        created = {i["scim_id"] for i in planned if i["kind"] == "user_created"}
        linked = select(members.c.scim_user_id).where(members.c.tenant_id == tenant.id)
        assert created <= set(conn.execute(linked).scalars())
        for table in (planned_users, planned_group_members):  # the planned mirror is gone
            assert conn.execute(select(func.count()).select_from(table)).scalar_one() == 0
    again = reconcile(tenant.id, later)
    assert again["outcome"] == "in_sync" and items_of(again["run_id"]) == []


def test_a_first_import_is_named_alike_by_its_dry_run(
    engine: Any, service_env: Any, tmp_path: Path
) -> None:
    """Into an empty mirror the real run writes as it compares (one pass); its dry run
    plans the same users under the same ids."""
    tenant = make_tenant(engine)
    users = [f"f{i}@acme.test" for i in range(9)]
    source = export(tmp_path / "f.ndjson", users, {"Eng": users[:4], "Ops": users[4:]}, {users[8]})

    dry = reconcile(tenant.id, source, "--dry-run")
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(mirror_users)).scalar_one() == 0
    real = reconcile(tenant.id, source)

    assert (dry["outcome"], real["outcome"]) == ("drift_found", "imported")
    assert items_of(real["run_id"]) == items_of(dry["run_id"])
    assert dry["counts"]["user_created"] == 9, dry["counts"]
    assert reconcile(tenant.id, source)["outcome"] == "in_sync"


def test_a_halted_run_lists_the_members_the_dry_run_named(
    engine: Any, service_env: Any, tmp_path: Path
) -> None:
    tenant = make_tenant(engine)
    users = [f"h{i}@acme.test" for i in range(10)]
    assert run_reconcile(tenant.id, source=export(tmp_path / "a.ndjson", users, {}, set()))
    truncated = export(tmp_path / "b.ndjson", users[:5], {}, {users[4]})  # half the export

    dry = reconcile(tenant.id, truncated, "--dry-run")
    halted = reconcile(tenant.id, truncated)

    assert halted["outcome"] == "halted"
    assert items_of(halted["run_id"]) == items_of(dry["run_id"])
    named = sorted(i["name"] for i in halted["would_remove_or_deactivate"])
    assert named == sorted(users[4:])  # five removed, one deactivated: each once
    assert halted["destructive"] == 6
    assert set(users) <= set(member_emails(engine, tenant.id))  # nothing applied
    forced = reconcile(tenant.id, truncated, "--force")
    assert forced["outcome"] == "repaired"
    left = member_emails(engine, tenant.id)
    assert not set(users[5:]) & set(left) and left[users[4]] == "deactivated"
