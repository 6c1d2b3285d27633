"""Credentials: each kind works only where it belongs, is stored hashed, and a rotated or
revoked one stops working at once (a SCIM token within a second: events/credentials.py)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select

from events.hooks.routes import signature_header
from storage import tenants
from storage.db import unit_of_work
from storage.schema import api_tokens
from tests.security.conftest import assert_scim_error
from tests.support.workspace import TenantHandle, issue_webhook_secret
from worker.cli.main import main as scimsync


def cli_json(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(scimsync, [*args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    parsed: dict[str, Any] = json.loads(result.output)
    return parsed


def scim_get(api: Any, tenant: TenantHandle, token: str) -> Any:
    return api.get(f"{tenant.scim_base}/Users", headers={"Authorization": f"Bearer {token}"})


def admin_get(api: Any, tenant: TenantHandle, token: str) -> Any:
    return api.get(
        f"/api/v1/workspaces/{tenant.id}/members", headers={"Authorization": f"Bearer {token}"}
    )


def test_a_rotated_scim_token_stops_working_within_a_second(api: Any, tenant: TenantHandle) -> None:
    assert scim_get(api, tenant, tenant.scim_token).status_code == 200
    rotated = cli_json("scim", "rotate-token", tenant.id)
    rotated_at = time.monotonic()
    while True:  # a request sent a second after the revocation is refused
        sent_at = time.monotonic()
        if scim_get(api, tenant, tenant.scim_token).status_code != 200:
            break
        assert sent_at - rotated_at < 1.0, "the rotated token still works after 1 s"
        time.sleep(0.05)
    assert_scim_error(scim_get(api, tenant, tenant.scim_token), 401)
    assert scim_get(api, tenant, rotated["token"]).status_code == 200


def test_a_rotated_admin_token_stops_working_at_once(api: Any, tenant: TenantHandle) -> None:
    assert admin_get(api, tenant, tenant.admin_token).status_code == 200
    rotated = cli_json("tenant", "rotate-admin-token", tenant.id)
    new_token = rotated["admin_token"]
    assert new_token.startswith("adm_") and new_token != tenant.admin_token
    assert admin_get(api, tenant, tenant.admin_token).status_code == 401
    assert admin_get(api, tenant, rotated["admin_token"]).status_code == 200
    # The SCIM integration is untouched by an admin rotation.
    assert scim_get(api, tenant, tenant.scim_token).status_code == 200


def test_rotating_the_admin_token_of_an_unknown_tenant_fails_cleanly(
    service_env: Any, engine: Engine
) -> None:
    result = CliRunner().invoke(scimsync, ["tenant", "rotate-admin-token", "nope"])
    assert result.exit_code != 0 and "not found" in result.output


def test_disabling_scim_revokes_its_token(api: Any, tenant: TenantHandle) -> None:
    response = api.delete(f"/api/v1/workspaces/{tenant.id}/scim", headers=tenant.admin_headers)
    assert response.status_code in (200, 204), response.text
    assert_scim_error(scim_get(api, tenant, tenant.scim_token), 401)


def test_a_revoked_webhook_secret_stops_signing(
    api: Any, engine: Engine, tenant: TenantHandle
) -> None:
    with unit_of_work(engine) as conn:
        secret = issue_webhook_secret(conn, tenant.id)
    body = b'{"id": "e1", "type": "user.upserted", "data": {"userName": "w@acme.test"}}'

    def push() -> int:
        header = signature_header(secret, int(time.time()), body)
        return int(
            api.post(
                f"/hooks/v1/{tenant.id}/events",
                content=body,
                headers={"X-Scimsync-Signature": header},
            ).status_code
        )

    assert push() == 200
    cli_json("webhook", "revoke-secrets", tenant.id)
    assert push() == 401


@pytest.mark.parametrize("kind", ["admin", "webhook", "okta_hook"])
def test_no_other_kind_of_token_opens_scim(
    api: Any, engine: Engine, tenant: TenantHandle, kind: str
) -> None:
    with unit_of_work(engine) as conn:
        token = (
            issue_webhook_secret(conn, tenant.id)
            if kind == "webhook"
            else tenants.issue_token(conn, tenant.id, kind).token  # type: ignore[arg-type]
        )
    assert_scim_error(scim_get(api, tenant, token), 401)


def test_neither_scim_nor_operator_token_opens_the_admin_api(
    api: Any, tenant: TenantHandle, service_env: dict[str, str]
) -> None:
    assert admin_get(api, tenant, tenant.scim_token).status_code == 401
    assert admin_get(api, tenant, service_env["SCIMSYNC_OPERATOR_TOKEN"]).status_code == 401


def test_tenant_tokens_do_not_open_the_operator_dashboard(api: Any, tenant: TenantHandle) -> None:
    for token in (tenant.admin_token, tenant.scim_token, "op-test-toke", "op-test-tokenX"):
        response = api.get("/dashboard/api/summary", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, token
    assert (
        api.get(
            "/dashboard/api/summary", headers={"Authorization": "Bearer op-test-token"}
        ).status_code
        == 200
    )


def test_bearer_tokens_are_stored_only_as_hashes(engine: Engine, tenant: TenantHandle) -> None:
    with engine.connect() as conn:
        rows = conn.execute(select(api_tokens).where(api_tokens.c.kind.in_(["scim", "admin"])))
        stored = [dict(r._mapping) for r in rows]
    assert len(stored) == 2
    for row in stored:
        assert row["secret"] is None and len(row["token_hash"]) == 64
        assert tenant.scim_token not in json.dumps(row, default=str)
        assert tenant.admin_token not in json.dumps(row, default=str)
    assert tenants.hash_token(tenant.scim_token) in {r["token_hash"] for r in stored}


def test_issued_tokens_carry_256_random_bits(engine: Engine, service_env: Any) -> None:
    with unit_of_work(engine) as conn:
        tenant = tenants.create(conn, name="T", sso_domains=["t.test"])
        issued = {tenants.issue_token(conn, tenant.id, "admin").token for _ in range(50)}
    assert len(issued) == 50
    assert all(len(t.removeprefix("adm_")) >= 43 for t in issued)  # 32 bytes, base64url


def test_operator_token_command_prints_a_long_random_token(service_env: Any) -> None:
    first, second = cli_json("operator-token"), cli_json("operator-token")
    assert first["operator_token"] != second["operator_token"]
    assert first["operator_token"].startswith("op_") and len(first["operator_token"]) >= 46


def test_tenant_limits_command_sets_and_resets_the_rate_limit(
    engine: Engine, tenant: TenantHandle
) -> None:
    assert cli_json("tenant", "limits", tenant.id, "--per-second", "5") == {
        "id": tenant.id,
        "per_second": 5.0,
        "burst": 20,
    }
    assert cli_json("tenant", "limits", tenant.id, "--burst", "8")["burst"] == 8
    with unit_of_work(engine, write=False) as conn:
        assert tenants.get(conn, tenant.id).options["rate_limit_per_second"] == 5.0
    reset = cli_json("tenant", "limits", tenant.id, "--reset")
    assert reset["per_second"] == 100.0 and reset["burst"] == 400
