"""A workspace seen and changed from the command line (issue 20, item 3): `tenant list|show`,
`members`, `groups`, `tenant set-idp|set-options`, checked input at `tenant create`, one
workspace per SSO domain, a confirmed `sso remove`, unknown ids as errors."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, text

from storage.schema import audit_log, dead_letters, members, tenants
from tests.integration.events.admin.support import AdminApi, IdpClient
from tests.support.workspace import TenantHandle, make_tenant
from worker.cli import main
from worker.pipeline import drain


@pytest.fixture
def cli(service_env: Any, engine: Any, redis_client: Any) -> Any:
    runner = CliRunner()

    def run(*args: str, code: int | None = 0, stdin: str | None = None) -> Any:
        result = runner.invoke(main, list(args), input=stdin)
        assert code is None or result.exit_code == code, (result.stdout, result.stderr)
        return result

    return run


def cells(line: str) -> list[str]:
    """A table line's cells: columns are two or more spaces apart."""
    return re.split(r" {2,}", line.strip())


@pytest.fixture
def populated(api: Any, engine: Any) -> TenantHandle:
    """Okta-provisioned: two active users, one deactivated, a SCIM group of two; the Owner."""
    tenant = make_tenant(engine, idp="okta")
    idp = IdpClient(api, tenant, engine)
    ann = idp.create_user("ann@acme.test")
    bob = idp.create_user("bob@acme.test", password="s3cret-Passw0rd")
    leaver = idp.create_user("leaver@acme.test")
    idp.create_group("Engineering", [ann, bob])
    idp.apply()
    idp.set_active(leaver, False)
    idp.apply()
    return tenant


def test_tenant_list_and_show_as_tables_and_json(cli: Any, populated: TenantHandle) -> None:
    other = json.loads(
        cli("tenant", "create", "--name", "Zeta", "--sso-domain", "zeta.test", "--json").stdout
    )
    listed = cli("tenant", "list").stdout.splitlines()
    assert listed[0].split() == [
        "NAME", "ID", "IDP", "SSO", "DOMAINS", "SSO", "SCIM",
        "ACTIVE", "PENDING", "DEACTIVATED", "GROUPS", "CREATED", "(UTC)",
    ]  # fmt: skip
    assert [line.split()[0] for line in listed[1:]] == ["Acme", "Zeta"]
    assert listed[1].split()[1:9] == [
        populated.id,
        "okta",
        "acme.test",
        "yes",
        "yes",
        "3",
        "0",
        "1",
    ]
    rows = json.loads(cli("tenant", "list", "--json").stdout)
    assert [r["id"] for r in rows] == [populated.id, other["id"]]
    acme = rows[0]
    assert acme["members"] == {"active": 3, "pending": 0, "deactivated": 1}
    assert acme["groups"] == 1 and acme["scim_enabled"] and acme["owner_email"] == "owner@acme.test"
    assert acme["created_at"].endswith("+00:00")
    assert json.loads(cli("tenant", "show", populated.id, "--json").stdout) == acme
    shown = cli("tenant", "show", populated.id).stdout
    assert "3 active (billed), 0 pending, 1 deactivated" in shown and "okta" in shown


def test_members_and_groups_say_who_manages_them(
    cli: Any, api: Any, populated: TenantHandle
) -> None:
    table = cli("members", populated.id).stdout.splitlines()
    assert cells(table[0]) == ["EMAIL", "NAME", "STATUS", "ROLE", "MANAGED BY", "ID"]
    by_email = {cells(line)[0]: cells(line) for line in table[1:-1]}
    assert by_email["leaver@acme.test"][2:5] == ["deactivated", "member", "okta"]
    assert by_email["owner@acme.test"][2:5] == ["active", "owner", "workspace"]
    assert table[-1] == "3 active (billed), 0 pending, 1 deactivated"
    deactivated = json.loads(
        cli("members", populated.id, "--status", "deactivated", "--json").stdout
    )
    assert [m["email"] for m in deactivated["members"]] == ["leaver@acme.test"]
    admin_api = AdminApi(api, populated)
    assert deactivated == admin_api.ok("GET", "/members?status=deactivated")  # the API's body
    groups = cli("groups", populated.id).stdout.splitlines()
    assert cells(groups[0]) == ["NAME", "MEMBERS", "MANAGED BY", "PERMISSIONS", "ID"]
    assert cells(groups[1])[:4] == ["Engineering (SCIM)", "2", "okta", "-"]
    assert json.loads(cli("groups", populated.id, "--json").stdout) == admin_api.ok(
        "GET", "/groups"
    )
    assert "--status" in cli("members", "--help").stdout
    assert cli("members", populated.id, "--status", "gone", code=2).exit_code == 2


@pytest.mark.parametrize(
    "command", [("members",), ("groups",), ("tenant", "show"), ("reconcile", "list")]
)
def test_an_unknown_tenant_is_an_error_not_an_empty_list(
    cli: Any, command: tuple[str, ...]
) -> None:
    human = cli(*command, "no-such-tenant", code=1)
    assert human.stdout == ""
    [line] = human.stderr.strip().splitlines()
    assert line.startswith("Error: ") and line.endswith(
        "no-such-tenant not found (not_found); list the workspaces with `scimsync tenant list`"
    )
    as_json = json.loads(cli(*command, "no-such-tenant", "--json", code=1).stdout)
    assert as_json["error"] == "not_found"


def test_set_idp_and_set_options_change_the_tenant_and_are_audited(
    cli: Any, engine: Any, populated: TenantHandle
) -> None:
    changed = json.loads(cli("tenant", "set-idp", populated.id, "ping", "--json").stdout)
    assert changed["idp"] == "ping"
    assert cli("tenant", "set-idp", populated.id, "myspace", code=2).exit_code == 2
    cli(
        "tenant", "set-options", populated.id,
        "--ping-remove-action", "disable", "--ping-unique-attribute", "workEmail",
        "--rate-limit-per-second", "5",
    )  # fmt: skip
    cli("tenant", "set-options", populated.id, "--unset", "rate_limit_per_second")
    with engine.connect() as conn:
        stored = conn.execute(select(tenants.c.idp, tenants.c.options)).one()
        actions = conn.execute(
            select(audit_log.c.actor, audit_log.c.action).where(audit_log.c.actor == "cli")
        ).all()
    assert stored.idp == "ping"
    assert stored.options == {"ping": {"remove_action": "disable", "unique_attribute": "workEmail"}}
    assert [a.action for a in actions] == ["set_idp", "set_options", "set_options"]
    shown = json.loads(cli("tenant", "set-options", populated.id, "--json").stdout)
    assert shown["options"] == {
        "ping.unique_attribute": "workEmail",
        "ping.remove_action": "disable",
    }
    refused = cli("tenant", "set-options", populated.id, "--rate-limit-burst", "0", code=1)
    assert "rate_limit_burst must be at least 1" in refused.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--sso-domain", "not a domain"], "not a domain name: 'not a domain'"),
        (["--sso-domain", "acme.test"], "the SSO domain acme.test already belongs to workspace"),
        (["--sso-domain", "b.test", "--owner-email", "nope"], "not an email address: 'nope'"),
    ],
)
def test_tenant_create_refuses_bad_domains_emails_and_taken_domains(
    cli: Any, engine: Any, populated: TenantHandle, args: list[str], expected: str
) -> None:
    refused = cli("tenant", "create", "--name", "Beta", *args, code=1)
    [line] = refused.stderr.strip().splitlines()
    assert line.startswith("Error: " + expected), line
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(tenants)).scalar_one() == 1


def test_the_admin_api_refuses_another_workspaces_sso_domain(
    cli: Any, api: Any, populated: TenantHandle
) -> None:
    beta = json.loads(
        cli("tenant", "create", "--name", "Beta", "--sso-domain", "beta.test", "--json").stdout
    )
    handle = TenantHandle(beta["id"], "", beta["admin_token"])
    taken = AdminApi(api, handle).put("/sso", json={"domains": ["ACME.test"]})
    assert taken.status_code == 409 and taken.json()["error"] == "sso_domain_taken"
    assert AdminApi(api, handle).put("/sso", json={"domains": ["beta.test"]}).status_code == 200


def test_sso_remove_shows_the_cascade_and_asks_first(
    cli: Any, engine: Any, populated: TenantHandle
) -> None:
    def member_count() -> int:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(members)).scalar_one())

    before = member_count()
    declined = cli("sso", "remove", populated.id, stdin="n\n", code=1)
    assert "Removing SSO from Acme" in declined.stdout
    assert "1 deactivated member(s) deleted for good" in declined.stdout
    assert "1 SCIM group(s) deleted" in declined.stdout
    assert "Remove SSO from Acme? [y/N]" in declined.stdout
    assert member_count() == before  # nothing changed
    dry = json.loads(cli("sso", "remove", populated.id, "--dry-run", "--json").stdout)
    assert cli("sso", "remove", populated.id, "--json", code=2).exit_code == 2  # cannot ask
    assert dry["counts"] == {
        "delete_group": 1, "delete_member": 1, "unlink_member": 2, "set_member_status": 1,
    }  # fmt: skip
    assert dry["tokens_revoked"] == 1
    done = cli("sso", "remove", populated.id, stdin="y\n")
    assert "removing SSO" in done.stderr  # the progress bar (a label only off a terminal)
    assert "SSO and SCIM removed from Acme; 1 SCIM token(s) and 0 webhook secret(s) revoked" in (
        done.stdout
    )
    assert "1 deactivated member(s) deleted for good" in done.stdout.split("[y/N]")[-1]
    assert member_count() == before - 1
    with engine.connect() as conn:
        logged = conn.execute(
            select(audit_log.c.detail).where(audit_log.c.action == "remove_sso")
        ).scalar_one()
    assert logged["counts"] == dry["counts"]  # what was shown is what was done


def test_dlq_replay_and_purge_of_an_unknown_id_are_errors(
    cli: Any, api: Any, engine: Any, populated: TenantHandle
) -> None:
    IdpClient(api, populated, engine).create_user("late@acme.test")
    with engine.begin() as conn:  # SCIM off behind the pipeline's back: a dead letter
        conn.execute(text("UPDATE tenants SET scim_enabled = :f"), {"f": False})
    assert len(drain(engine, populated.id, batch_size=10, time_budget=10).dead) == 1
    with engine.connect() as conn:
        known = int(conn.execute(select(dead_letters.c.id)).scalar_one())
    for command in ("replay", "purge"):
        refused = cli("dlq", command, str(known), "999", code=1)
        assert refused.stderr.strip().splitlines()[-1] == (
            "Error: dead letter(s) not found: 999; nothing was changed (not_found); "
            "list the dead letters with `scimsync dlq list`"
        )
        assert json.loads(cli("dlq", command, "999", "--json", code=1).stdout)["error"] == (
            "not_found"
        )
    assert [r["id"] for r in json.loads(cli("dlq", "list", "--json").stdout)] == [known]
    assert json.loads(cli("dlq", "replay", str(known), "--json").stdout)["replayed"] == 1
    unknown = cli("dlq", "list", "--tenant", "nope", code=1)
    assert "tenant nope not found" in unknown.stderr
