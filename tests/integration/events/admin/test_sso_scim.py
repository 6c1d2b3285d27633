"""SSO, SCIM, billing, the login check and the audit log over HTTP."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from storage import tenants
from storage.db import unit_of_work
from storage.schema import api_tokens
from storage.schema import tenants as tenants_table
from tests.integration.events.admin.support import AdminApi, IdpClient
from tests.support.workspace import TenantHandle


def workspace_without_sso(api: Any, engine: Engine) -> AdminApi:
    with unit_of_work(engine) as conn:
        created = tenants.create_workspace(
            conn, name="NoSso", sso_domains=[], owner_email="owner@nosso.test"
        )
    return AdminApi(api, TenantHandle(created["id"], "", created["admin_token"]))


def test_put_sso_configures_domains_and_provider(
    admin: AdminApi, engine: Engine, tenant: TenantHandle
) -> None:
    body = {"domains": ["Acme.test", "corp.acme.test", "acme.test"], "provider": "okta-saml"}
    answer = admin.ok("PUT", "/sso", json=body)
    assert answer == {
        "domains": ["acme.test", "corp.acme.test"],
        "provider": "okta-saml",
        "sso_configured": True,
        "scim_enabled": True,
    }
    with engine.connect() as conn:
        row = conn.execute(select(tenants_table).where(tenants_table.c.id == tenant.id)).one()
    assert (row.sso_provider, row.sso_configured) == ("okta-saml", True)


def test_put_sso_refuses_bad_domains(admin: AdminApi) -> None:
    bodies: list[dict[str, Any]] = [
        {"domains": []},
        {"domains": ["not a domain"]},
        {"domains": ["x@y.test"]},
        {},
    ]
    for body in bodies:
        response = admin.put("/sso", json=body)
        assert response.status_code == 400, body


def test_new_sso_domains_decide_where_new_scim_users_start(admin: AdminApi, idp: IdpClient) -> None:
    admin.ok("PUT", "/sso", json={"domains": ["acme.test", "partner.test"]})
    idp.create_user("now-inside@partner.test")
    idp.apply()
    assert admin.member("now-inside@partner.test")["status"] == "active"


def test_enable_scim_returns_a_working_token_once(api: Any, engine: Engine) -> None:
    admin = workspace_without_sso(api, engine)
    admin.ok("PUT", "/sso", json={"domains": ["nosso.test"]})
    enabled = admin.ok("POST", "/scim", 201)
    assert enabled["base_url"].endswith(f"/scim/v2/{admin.tenant.id}")
    headers = {"Authorization": f"Bearer {enabled['token']}"}
    assert api.get(f"/scim/v2/{admin.tenant.id}/Users", headers=headers).status_code == 200
    with engine.connect() as conn:
        stored = conn.execute(
            select(api_tokens.c.token_hash, api_tokens.c.secret).where(
                api_tokens.c.tenant_id == admin.tenant.id, api_tokens.c.kind == "scim"
            )
        ).one()
    assert enabled["token"] not in (stored.token_hash, stored.secret)
    again = admin.post("/scim")  # a second enable would silently cut the IdP off
    assert again.status_code == 409 and again.json()["error"] == "scim_already_enabled"
    assert api.get(f"/scim/v2/{admin.tenant.id}/Users", headers=headers).status_code == 200


def test_delete_scim_revokes_the_token_and_keeps_the_workspace(
    api: Any, admin: AdminApi, idp: IdpClient, tenant: TenantHandle
) -> None:
    idp.create_user("in@acme.test")
    idp.apply()
    admin.ok("DELETE", "/scim", 204)
    response = api.get(f"{tenant.scim_base}/Users", headers=tenant.scim_headers)
    assert response.status_code == 401
    assert admin.member("in@acme.test")["status"] == "active"
    enabled = admin.ok("POST", "/scim", 201)  # SSO is still there: SCIM can come back
    headers = {"Authorization": f"Bearer {enabled['token']}"}
    assert api.get(f"{tenant.scim_base}/Users", headers=headers).status_code == 200


def test_delete_sso_twice_is_refused(admin: AdminApi) -> None:
    first = admin.ok("DELETE", "/sso")
    assert first["tokens_revoked"] == 1
    again = admin.delete("/sso")
    assert again.status_code == 409 and again.json()["error"] == "sso_not_configured"


def test_access_reports_why(admin: AdminApi, idp: IdpClient) -> None:
    leaver = idp.create_user("leaver@acme.test")
    idp.create_user("ext@partner.test")
    idp.apply()
    idp.set_active(leaver, False)
    idp.apply()
    assert admin.access("OWNER@acme.test") == {"allowed": True, "reason": "active"}
    assert admin.access("ext@partner.test") == {"allowed": False, "reason": "invitation_pending"}
    assert admin.access("leaver@acme.test") == {"allowed": False, "reason": "deactivated"}
    assert admin.access("nobody@acme.test") == {"allowed": False, "reason": "not_a_member"}
    assert admin.get("/access").status_code == 400


def test_billing_counts_active_members(admin: AdminApi) -> None:
    assert admin.ok("GET", "/billing") == {"billed_members": 1}  # the Owner
    guest = admin.invite("guest@partner.test")
    assert admin.billed() == 1
    admin.ok(
        "POST",
        f"/members/{guest['id']}/accept-invitation",
        json={"password": "correct horse battery"},
    )
    assert admin.billed() == 2


def test_audit_log_is_per_tenant_newest_first_and_bounded(
    api: Any, admin: AdminApi, engine: Engine
) -> None:
    other = workspace_without_sso(api, engine)
    other.native_group("Theirs")
    for name in ("A", "B", "C"):
        admin.native_group(name)
    admin.ok("PUT", "/sso", json={"domains": ["acme.test"]})
    entries = admin.ok("GET", "/audit")["entries"]
    assert [(e["action"], e["detail"].get("name")) for e in entries] == [
        ("configure_sso", None),
        ("create_group", "C"),
        ("create_group", "B"),
        ("create_group", "A"),
    ]
    assert len(admin.ok("GET", "/audit", params={"limit": 1})["entries"]) == 1
    for limit in (0, 1001, "x"):
        assert admin.get("/audit", params={"limit": limit}).status_code == 400


def test_sso_removal_revokes_the_webhook_secrets_for_good(
    api: Any, admin: AdminApi, engine: Engine, tenant: TenantHandle
) -> None:
    """Issue 16 item 6: a webhook secret left live would provision again as soon as SSO
    and SCIM come back; removing SSO revokes it with the SCIM token."""
    import json
    import time

    from events.hooks.routes import SIGNATURE_HEADER, signature_header
    from tests.support.workspace import issue_okta_secret, issue_webhook_secret

    with unit_of_work(engine) as conn:
        signing = issue_webhook_secret(conn, tenant.id)
        bearer = issue_okta_secret(conn, tenant.id)

    def push(event_id: str) -> int:
        body = json.dumps(
            {"id": event_id, "type": "user.upserted", "data": {"userName": "h@acme.test"}}
        ).encode()
        header = signature_header(signing, int(time.time()), body)
        url = f"/hooks/v1/{tenant.id}/events"
        return int(api.post(url, content=body, headers={SIGNATURE_HEADER: header}).status_code)

    def okta() -> int:
        url = f"/hooks/v1/{tenant.id}/okta"
        body = {"data": {"events": []}}
        return int(api.post(url, json=body, headers={"Authorization": bearer}).status_code)

    assert push("before") == 200 and okta() == 200
    removed = admin.ok("DELETE", "/sso")
    assert (removed["tokens_revoked"], removed["webhook_secrets_revoked"]) == (1, 2)
    admin.ok("PUT", "/sso", json={"domains": ["acme.test"], "provider": "saml"})
    admin.ok("POST", "/scim", 201)  # provisioning back on: the old secrets stay dead
    assert push("after") == 401 and okta() == 401
    with engine.connect() as conn:
        live = conn.execute(
            select(api_tokens.c.kind).where(
                api_tokens.c.tenant_id == tenant.id,
                api_tokens.c.kind.in_(["webhook", "okta_hook"]),
                api_tokens.c.revoked_at.is_(None),
            )
        ).all()
    assert live == []
