"""The `scimsync` command line as operators and scripts use it (JSON contracts)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text

from storage import tenants
from storage.db import unit_of_work
from storage.schema import api_tokens, audit_log, members, workspace_groups
from tests.integration.events.admin.support import AdminApi, IdpClient
from tests.support.workspace import TenantHandle, make_tenant, user_body
from worker.cli import main


@pytest.fixture
def cli(service_env: Any, engine: Any, redis_client: Any) -> Any:
    runner = CliRunner()

    def run(*args: str, code: int | None = 0) -> Any:
        """`scimsync ARGS`; asserts the exit code unless `code` is None."""
        result = runner.invoke(main, list(args), catch_exceptions=False)
        assert code is None or result.exit_code == code, result.output
        return result

    return run


def test_tenant_create_and_scim_enable_give_a_working_token(
    cli: Any, api: Any, engine: Any
) -> None:
    created = json.loads(
        cli(
            "tenant",
            "create",
            "--name",
            "Acme",
            "--sso-domain",
            "acme.test",
            "--sso-domain",
            "acme-corp.test",
            "--idp",
            "okta",
            "--owner-email",
            "Boss@acme.test",
            "--json",
        ).output
    )
    assert set(created) >= {"id", "admin_token", "name", "idp", "sso_domains"}
    assert created["idp"] == "okta" and created["sso_domains"] == ["acme-corp.test", "acme.test"]
    enabled = json.loads(cli("scim", "enable", created["id"], "--json").output)
    assert enabled["base_url"].endswith(f"/scim/v2/{created['id']}")
    headers = {"Authorization": f"Bearer {enabled['token']}"}
    response = api.post(
        f"/scim/v2/{created['id']}/Users", json=user_body("a@acme.test"), headers=headers
    )
    assert response.status_code == 201
    with engine.connect() as conn:
        stored = conn.execute(select(api_tokens.c.token_hash)).scalars().all()
        owner = conn.execute(select(members.c.role, members.c.status)).one()
    assert enabled["token"] not in stored and created["admin_token"] not in stored
    assert len(enabled["token"]) > 40  # 256 random bits, URL-safe
    assert tuple(owner) == ("owner", "active")


def test_rotate_token_invalidates_the_old_one(cli: Any, api: Any) -> None:
    created = json.loads(
        cli("tenant", "create", "--name", "R", "--sso-domain", "r.test", "--json").output
    )
    old = json.loads(cli("scim", "enable", created["id"], "--json").output)["token"]
    new = json.loads(cli("scim", "rotate-token", created["id"], "--json").output)["token"]
    base = f"/scim/v2/{created['id']}/Users"
    assert api.get(base, headers={"Authorization": f"Bearer {old}"}).status_code == 401
    assert api.get(base, headers={"Authorization": f"Bearer {new}"}).status_code == 200


def test_scim_cannot_be_enabled_without_sso(cli: Any, engine: Any) -> None:
    created = json.loads(
        cli("tenant", "create", "--name", "N", "--sso-domain", "n.test", "--json").output
    )
    with engine.begin() as conn:
        conn.execute(text("UPDATE tenants SET sso_configured = :f"), {"f": False})
    result = cli("scim", "enable", created["id"], "--json", code=1)
    assert "SSO" in result.output


def test_status_and_dlq_json(cli: Any, api: Any) -> None:
    created = json.loads(
        cli("tenant", "create", "--name", "S", "--sso-domain", "s.test", "--json").output
    )
    token = json.loads(cli("scim", "enable", created["id"], "--json").output)["token"]
    api.post(
        f"/scim/v2/{created['id']}/Users",
        json=user_body("x@s.test"),
        headers={"Authorization": f"Bearer {token}"},
    )
    rows = json.loads(cli("status", "--json").output)
    row = next(r for r in rows if r["tenant_id"] == created["id"])
    assert row["queue_depth"] == 1 and row["dead_letters"] == 0
    assert row["oldest_unapplied_age_seconds"] is not None
    assert json.loads(cli("dlq", "list", "--json").output) == []
    assert json.loads(cli("dlq", "replay", "--json").output)["replayed"] == 0
    assert json.loads(cli("dlq", "purge", "--json").output) == {"purged": 0}


def test_reconcile_json_report(cli: Any) -> None:
    created = json.loads(
        cli("tenant", "create", "--name", "Q", "--sso-domain", "q.test", "--json").output
    )
    cli("scim", "enable", created["id"], "--json")
    report = json.loads(cli("reconcile", created["id"], "--dry-run", "--json").output)
    assert report["outcome"] == "in_sync" and report["source"] == "mirror"
    assert report["counts"] == {} and isinstance(report["run_id"], int)


def test_db_upgrade_is_idempotent(cli: Any) -> None:
    assert json.loads(cli("db", "upgrade", "--json").output)["upgraded"] is True


# --- the CLI's operations go through the services: refused and audited like the API -------


def cli_audit(engine: Any, tenant_id: str) -> list[tuple[str, str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(audit_log.c.actor, audit_log.c.action, audit_log.c.target)
            .where(audit_log.c.tenant_id == tenant_id)
            .order_by(audit_log.c.id)
        )
        return [(r.actor, r.action, r.target) for r in rows]


def test_every_cli_operation_is_audited_with_cli_as_actor(cli: Any, engine: Any) -> None:
    created = json.loads(
        cli("tenant", "create", "--name", "A", "--sso-domain", "a.test", "--json").output
    )
    tenant_id = created["id"]
    cli("scim", "enable", tenant_id, "--json")
    cli("scim", "rotate-token", tenant_id, "--json")
    cli("tenant", "rotate-admin-token", tenant_id, "--json")
    cli("sso", "remove", tenant_id, "--yes", "--json")
    target = f"tenant:{tenant_id}"
    assert cli_audit(engine, tenant_id) == [
        ("cli", "create_workspace", target),
        ("cli", "enable_scim", target),
        ("cli", "rotate_scim_token", target),
        ("cli", "rotate_admin_token", target),
        ("cli", "remove_sso", target),
    ]


def test_a_second_scim_enable_is_refused_and_the_token_keeps_working(cli: Any, api: Any) -> None:
    created = json.loads(
        cli("tenant", "create", "--name", "T", "--sso-domain", "t.test", "--json").output
    )
    token = json.loads(cli("scim", "enable", created["id"], "--json").output)["token"]
    again = cli("scim", "enable", created["id"], "--json", code=1)
    assert json.loads(again.stdout)["error"] == "scim_already_enabled"
    headers = {"Authorization": f"Bearer {token}"}
    assert api.get(f"/scim/v2/{created['id']}/Users", headers=headers).status_code == 200


def test_a_refusal_says_why_and_exits_1(cli: Any) -> None:
    created = json.loads(
        cli("tenant", "create", "--name", "U", "--sso-domain", "u.test", "--json").output
    )
    cli("sso", "remove", created["id"], "--yes")
    human = cli("sso", "remove", created["id"], code=1)
    assert "SSO is not configured" in human.stderr and "(sso_not_configured)" in human.stderr
    assert human.stdout == ""
    unknown = json.loads(cli("scim", "rotate-token", "no-such-tenant", "--json", code=1).stdout)
    assert unknown["error"] == "not_found" and "no-such-tenant" in unknown["detail"]


# --- parity: the CLI and the admin API refuse the same things and audit the same things -----

Outcome = str  # "ok", or the refusal's code

CLI_ARGS = {"enable_scim": ("scim", "enable"), "remove_sso": ("sso", "remove", "--yes")}
API_CALLS = {"enable_scim": ("POST", "/scim"), "remove_sso": ("DELETE", "/sso")}


def _scim_off(engine: Any, api: Any) -> TenantHandle:
    tenant = make_tenant(engine)
    with unit_of_work(engine) as conn:
        tenants.disable_scim(conn, tenant.id)
    return tenant


def _sso_off(engine: Any, api: Any) -> TenantHandle:
    with unit_of_work(engine) as conn:
        created = tenants.create_workspace(conn, name="NoSso", sso_domains=[])
    return TenantHandle(created["id"], "", created["admin_token"])


def _populated(engine: Any, api: Any) -> TenantHandle:
    """SSO and SCIM on, with what rule 11 acts on: a SCIM group, a member without a
    password, one with a password, a deactivated one."""
    tenant = make_tenant(engine)
    idp = IdpClient(api, tenant, engine)
    users = [
        idp.create_user("nopw@acme.test"),
        idp.create_user("pw@acme.test", password="s3cret-Passw0rd"),
        idp.create_user("leaver@acme.test"),
    ]
    idp.create_group("Eng", users)
    idp.apply()
    idp.set_active(users[2], False)
    idp.apply()
    return tenant


SCENARIOS = {
    "enable_scim_twice": (
        _scim_off,
        ["enable_scim", "enable_scim"],
        ["ok", "scim_already_enabled"],
    ),
    "sso_removal_twice": (_populated, ["remove_sso", "remove_sso"], ["ok", "sso_not_configured"]),
    "enable_scim_without_sso": (_sso_off, ["enable_scim"], ["sso_required"]),
    "enable_scim_after_sso_removal": (
        _populated,
        ["remove_sso", "enable_scim"],
        ["ok", "sso_required"],
    ),
}


def _labels(engine: Any, tenant_id: str) -> dict[str, str]:
    """Ids as names, so that two tenants' audit rows compare: members by email, groups by
    name, the tenant as T."""
    with engine.connect() as conn:
        people = conn.execute(
            select(members.c.id, members.c.email_ci).where(members.c.tenant_id == tenant_id)
        ).all()
        groups = conn.execute(
            select(workspace_groups.c.id, workspace_groups.c.name).where(
                workspace_groups.c.tenant_id == tenant_id
            )
        ).all()
        return {tenant_id: "T"} | {row[0]: row[1] for row in [*people, *groups]}


def _run_scenario(
    engine: Any, api: Any, name: str, run: Callable[[TenantHandle, str], Outcome]
) -> tuple[str, list[Outcome], list[tuple[str, str, str]]]:
    """The scenario's operations on a fresh tenant: the tenant, the operations' outcomes and
    the audit rows they wrote, as (actor, action, target with ids named)."""
    setup, operations, _ = SCENARIOS[name]
    tenant = setup(engine, api)
    labels, before = _labels(engine, tenant.id), len(cli_audit(engine, tenant.id))
    outcomes = [run(tenant, operation) for operation in operations]
    rows = []
    for actor, action, target in cli_audit(engine, tenant.id)[before:]:
        kind, _, ref = target.partition(":")
        rows.append((actor, action, f"{kind}:{labels.get(ref, ref)}"))
    return tenant.id, outcomes, rows


def _admin_token_id(engine: Any, tenant_id: str) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(
                select(api_tokens.c.id).where(
                    api_tokens.c.tenant_id == tenant_id, api_tokens.c.kind == "admin"
                )
            ).scalar_one()
        )


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_cli_and_admin_api_refuse_and_audit_the_same(
    scenario: str, cli: Any, api: Any, engine: Any
) -> None:
    def through_cli(tenant: TenantHandle, operation: str) -> Outcome:
        result = cli(*CLI_ARGS[operation], tenant.id, "--json", code=None)
        assert result.exit_code in (0, 1), result.output
        return "ok" if result.exit_code == 0 else str(json.loads(result.stdout)["error"])

    def through_api(tenant: TenantHandle, operation: str) -> Outcome:
        method, path = API_CALLS[operation]
        response = AdminApi(api, tenant).call(method, path)
        assert response.status_code in (200, 201, 409), response.text
        return "ok" if response.status_code < 300 else str(response.json()["error"])

    expected = SCENARIOS[scenario][2]
    _, cli_outcomes, cli_rows = _run_scenario(engine, api, scenario, through_cli)
    api_tenant, api_outcomes, api_rows = _run_scenario(engine, api, scenario, through_api)
    assert cli_outcomes == expected
    assert api_outcomes == expected
    # The same rows: within one batch, rows follow member ids, which differ between tenants.
    assert sorted(row[1:] for row in cli_rows) == sorted(row[1:] for row in api_rows)
    assert bool(cli_rows) == ("ok" in expected)  # a refusal writes no audit row
    assert {actor for actor, _, _ in cli_rows} <= {"cli"}
    assert {actor for actor, _, _ in api_rows} <= {_admin_token_id(engine, api_tenant)}
