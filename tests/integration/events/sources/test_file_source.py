"""A reconcile from a file export: streamed in batches, the mirror's changes itemised
before anything is written, and an import that dies half-way re-runs to the same end."""

from __future__ import annotations

import json
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from events.ingest import batches, writes
from events.sources import mirror_repair
from storage import reconcile_items
from storage.schema import members, mirror_group_members, mirror_groups, mirror_users
from tests.support.workspace import group_body, make_tenant, user_body
from worker import reconcile_jobs
from worker.lease import LeaseLost
from worker.reconcile_jobs import run_reconcile


def export(path: Path, users: list[str], groups: dict[str, list[str]], off: set[str]) -> str:
    lines = [json.dumps({**user_body(u, active=u not in off), "id": f"src-{u}"}) for u in users]
    lines += [
        json.dumps({**group_body(g, [f"src-{u}" for u in ms]), "id": f"src-{g}"})
        for g, ms in groups.items()
    ]
    path.write_text("\n".join(lines) + "\n")
    return f"file:{path}"


def member_emails(engine: Any, tenant_id: str) -> dict[str, str]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(members.c.email_ci, members.c.status).where(members.c.tenant_id == tenant_id)
        )
        return dict(rows.tuples().all())


def test_dry_run_itemises_the_mirror_changes_and_writes_nothing(
    engine: Any, service_env: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mirror_repair, "BATCH", 3)  # several batches from a small file
    tenant = make_tenant(engine)
    users = [f"u{i}@acme.test" for i in range(8)]
    first = export(tmp_path / "a.ndjson", users, {"Eng": users[:4]}, set())
    assert run_reconcile(tenant.id, source=first)["outcome"] == "imported"
    later = export(
        tmp_path / "b.ndjson", [*users[1:], "n@acme.test"], {"Eng": users[1:5]}, {"u2@acme.test"}
    )

    dry = run_reconcile(tenant.id, source=later, dry_run=True)

    assert dry["outcome"] == "drift_found"
    items = [i for i in dry["items"] if i["kind"] == "mirror_repaired"]
    named = {i["name"]: i for i in items}
    assert set(named) == {"n@acme.test", "u2@acme.test", "u0@acme.test", "Eng"}
    assert named["u2@acme.test"]["after"] == {"active": False}
    assert not any(i["destructive"] for i in items)  # the workspace's items say who goes
    workspace = {(i["kind"], i["name"]) for i in dry["items"] if i["kind"] != "mirror_repaired"}
    assert workspace == {
        ("user_removed", "u0@acme.test"),
        ("user_deactivated", "u2@acme.test"),
        ("user_created", "n@acme.test"),
        ("membership_added", "Eng"),
        ("membership_removed", "Eng"),
    }
    assert dry["destructive"] == 2
    with engine.connect() as conn:
        count = select(func.count()).where(mirror_users.c.tenant_id == tenant.id)
        assert conn.execute(count).scalar_one() == 8


def test_an_import_that_dies_half_way_reruns_to_the_same_result(
    engine: Any, service_env: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mirror_repair, "BATCH", 4)
    users = [f"k{i}@acme.test" for i in range(20)]
    source = export(tmp_path / "x.ndjson", users, {"Ops": users[::2]}, {"k3@acme.test"})
    clean = make_tenant(engine, name="Clean")
    assert run_reconcile(clean.id, source=source, force=True)["outcome"] == "imported"

    broken = make_tenant(engine, name="Broken")
    real_stage = reconcile_jobs._source_stage
    calls = {"n": 0}

    def dies_on_third_batch(*args: Any, **kwargs: Any) -> Any:
        check = kwargs["fence"]

        def fence() -> None:
            calls["n"] += 1
            if calls["n"] == 3:
                raise LeaseLost("killed")
            check()

        return real_stage(*args, **{**kwargs, "fence": fence})

    monkeypatch.setattr(reconcile_jobs, "_source_stage", dies_on_third_batch)
    died = run_reconcile(broken.id, source=source, force=True)
    assert died["outcome"] == "failed" and "killed" in died["detail"]
    # the first import validated ahead on a helper thread: it stopped with the run
    assert not [t for t in threading.enumerate() if t.name == "validate-ahead"]
    assert sys.getswitchinterval() == pytest.approx(0.005)
    with engine.connect() as conn:
        count = select(func.count()).where(mirror_users.c.tenant_id == broken.id)
        assert 0 < conn.execute(count).scalar_one() < len(users)  # died half-way
    monkeypatch.setattr(reconcile_jobs, "_source_stage", real_stage)

    again = run_reconcile(broken.id, source=source, force=True)

    assert again["outcome"] in ("repaired", "imported"), again
    assert member_emails(engine, broken.id) == member_emails(engine, clean.id)
    assert run_reconcile(broken.id, source=source)["outcome"] == "in_sync"


def test_a_second_pass_over_an_unchanged_export_parses_nothing(
    engine: Any, service_env: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What makes a no-drift pass of 100,000 users cheap: a resource whose body and mirror
    version are unchanged since the last run is not validated again."""
    tenant = make_tenant(engine)
    users = [f"p{i}@acme.test" for i in range(12)]
    source = export(tmp_path / "p.ndjson", users, {"Eng": users[:6]}, set())
    assert run_reconcile(tenant.id, source=source)["outcome"] == "imported"
    parsed: list[str] = []
    real_user, real_group = mirror_repair.parse_user, mirror_repair.parse_group

    def counting(real: Any) -> Any:
        def parse(body: dict[str, Any]) -> Any:
            parsed.append(body.get("userName") or body.get("displayName"))
            return real(body)

        return parse

    monkeypatch.setattr(mirror_repair, "parse_user", counting(real_user))
    monkeypatch.setattr(mirror_repair, "parse_group", counting(real_group))

    assert run_reconcile(tenant.id, source=source)["outcome"] == "in_sync"
    assert parsed == []
    changed = export(tmp_path / "q.ndjson", users, {"Eng": users[:5]}, {"p7@acme.test"})
    report = run_reconcile(tenant.id, source=changed, force=True)
    assert report["outcome"] == "repaired"
    assert set(parsed) == {"Eng", "p7@acme.test"}  # only what changed (planned, applied)


def _count_validations(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How many times each userName / displayName is validated, wherever that happens."""
    seen: Counter[str] = Counter()
    for module in (mirror_repair, batches, writes):
        for name in ("parse_user", "parse_group"):
            real = getattr(module, name)

            def parse(body: dict[str, Any], real: Any = real) -> Any:
                seen[body.get("userName") or body.get("displayName")] += 1
                return real(body)

            monkeypatch.setattr(module, name, parse)
    return seen


def test_a_first_import_validates_each_resource_once(
    engine: Any, service_env: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Validation was 40 % of a 100,000-user import while each new user was validated by
    the plan and again by the write: an import plans and writes in one pass now."""
    monkeypatch.setattr(mirror_repair, "BATCH", 4)
    tenant = make_tenant(engine)
    users = [f"v{i}@acme.test" for i in range(10)]
    source = export(tmp_path / "v.ndjson", users, {"Eng": users[:6], "Ops": users[4:]}, set())
    validated = _count_validations(monkeypatch)

    report = run_reconcile(tenant.id, source=source)

    assert report["outcome"] == "imported"
    assert validated == Counter({name: 1 for name in [*users, "Eng", "Ops"]})
    assert set(member_emails(engine, tenant.id)) >= set(users)
    assert mirror_members_of(engine, tenant.id) == {"Eng": set(users[:6]), "Ops": set(users[4:])}
    assert run_reconcile(tenant.id, source=source)["outcome"] == "in_sync"


def test_a_checked_run_writes_what_its_plan_named(
    engine: Any, service_env: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not forced, into a mirror with users: planned first (the safety valve weighs it),
    then written in a second pass; new users and groups are created in batches."""
    monkeypatch.setattr(mirror_repair, "BATCH", 3)
    tenant = make_tenant(engine)
    users = [f"c{i}@acme.test" for i in range(6)]
    first = export(tmp_path / "c.ndjson", users, {"Eng": users[:3]}, set())
    assert run_reconcile(tenant.id, source=first)["outcome"] == "imported"
    more = [*users, "n1@acme.test", "n2@acme.test"]
    groups = {"Eng": users[:4], "New": ["n1@acme.test", users[0]], "Newer": []}
    later = export(tmp_path / "d.ndjson", more, groups, set())

    dry = run_reconcile(tenant.id, source=later, dry_run=True)
    real = run_reconcile(tenant.id, source=later)

    def named(report: dict[str, Any]) -> set[tuple[str, str]]:
        return {(i["name"], i["kind"]) for i in report["items"] if i["kind"] == "mirror_repaired"}

    assert real["outcome"] == "repaired"
    assert (
        named(dry)
        == named(real)
        == {
            ("n1@acme.test", "mirror_repaired"),
            ("n2@acme.test", "mirror_repaired"),
            ("Eng", "mirror_repaired"),
            ("New", "mirror_repaired"),
            ("Newer", "mirror_repaired"),
        }
    )
    assert mirror_members_of(engine, tenant.id) == {k: set(v) for k, v in groups.items()}
    assert run_reconcile(tenant.id, source=later)["outcome"] == "in_sync"


def mirror_members_of(engine: Any, tenant_id: str) -> dict[str, set[str]]:
    """Each mirror group's members, by userName."""
    query = (
        select(mirror_groups.c.display_name, mirror_users.c.user_name)
        .select_from(
            mirror_groups.outerjoin(
                mirror_group_members,
                (mirror_group_members.c.tenant_id == mirror_groups.c.tenant_id)
                & (mirror_group_members.c.group_id == mirror_groups.c.id),
            ).outerjoin(
                mirror_users,
                (mirror_users.c.tenant_id == mirror_group_members.c.tenant_id)
                & (mirror_users.c.id == mirror_group_members.c.member_id),
            )
        )
        .where(mirror_groups.c.tenant_id == tenant_id)
    )
    found: dict[str, set[str]] = {}
    with engine.connect() as conn:
        for group, user in conn.execute(query).tuples():
            found.setdefault(group, set())
            if user is not None:
                found[group].add(user)
    return found


def test_an_import_stores_each_batch_items_with_its_writes(
    engine: Any, service_env: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Storing the items fails on the third batch: that batch's writes roll back with them,
    so every user the mirror holds is named by an item of the run, and no item names a user
    the mirror does not hold (items stored after a batch's commit lost what it wrote)."""
    monkeypatch.setattr(mirror_repair, "BATCH", 4)
    users = [f"b{i}@acme.test" for i in range(20)]
    source = export(tmp_path / "x.ndjson", users, {}, set())
    tenant = make_tenant(engine)
    real_add = reconcile_items.add_items
    calls = {"n": 0}

    def fails_on_third(*args: Any, **kwargs: Any) -> int:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("the items could not be stored")
        return real_add(*args, **kwargs)

    monkeypatch.setattr(reconcile_items, "add_items", fails_on_third)
    died = run_reconcile(tenant.id, source=source, force=True)

    assert died["outcome"] == "failed" and "could not be stored" in died["detail"]
    with engine.connect() as conn:
        held = conn.execute(
            select(mirror_users.c.user_name).where(mirror_users.c.tenant_id == tenant.id)
        )
        in_mirror = set(held.scalars())
        named = {i["name"] for i in reconcile_items.list_items(conn, died["run_id"], limit=100)}
    assert len(in_mirror) == 8  # two batches of four went in, the third rolled back
    assert named == in_mirror


def test_a_resource_that_fails_validation_is_left_out_and_reported(
    engine: Any, service_env: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One bad line of an export does not stop the import, and the report says it was left
    out (`refused`), in the one-pass import and in a checked run alike."""
    monkeypatch.setattr(mirror_repair, "BATCH", 3)
    tenant = make_tenant(engine)
    users = [f"w{i}@acme.test" for i in range(9)]
    path = tmp_path / "w.ndjson"
    broken = {**user_body("broken@acme.test"), "id": "src-broken", "active": "perhaps"}

    def with_broken_line(off: set[str]) -> str:
        source = export(path, users, {"Eng": users[:5]}, off)
        path.write_text(path.read_text() + json.dumps(broken) + "\n")
        return source

    report = run_reconcile(tenant.id, source=with_broken_line(set()))

    assert report["outcome"] == "imported"
    assert report["refused"] == {"invalid_in_source": 1}
    emails = member_emails(engine, tenant.id)
    assert set(users) <= set(emails) and "broken@acme.test" not in emails
    assert mirror_members_of(engine, tenant.id) == {"Eng": set(users[:5])}
    checked = run_reconcile(tenant.id, source=with_broken_line({users[0]}))
    assert checked["outcome"] == "repaired" and checked["refused"] == {"invalid_in_source": 1}
    assert member_emails(engine, tenant.id)[users[0]] == "deactivated"
