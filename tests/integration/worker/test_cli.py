"""The `scimsync` command line as operators and scripts use it (JSON contracts)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text

from storage.schema import api_tokens, members
from tests.support.workspace import user_body
from worker.cli import main


@pytest.fixture
def cli(service_env: Any, engine: Any, redis_client: Any) -> Any:
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> Any:
        result = runner.invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == code, result.output
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
    assert report["outcome"] == "dry_run" and report["source"] == "mirror"
    assert report["counts"] == {} and isinstance(report["run_id"], int)


def test_db_upgrade_is_idempotent(cli: Any) -> None:
    assert json.loads(cli("db", "upgrade", "--json").output)["upgraded"] is True
