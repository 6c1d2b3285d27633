"""The workspace rules of docs/architecture.md §4, each over HTTP where it has an HTTP face.

SCIM writes go through the IdP's SCIM API and reach the workspace through the
worker's drain; admin actions go through the admin API and are immediate.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from storage import tenants
from storage.db import unit_of_work
from storage.schema import api_tokens
from tests.integration.events.admin.support import AdminApi, IdpClient
from tests.support.workspace import TenantHandle, group_body, make_tenant

PASSWORD = {"password": "correct horse battery"}


def test_rule_01_scim_can_only_be_enabled_with_sso(api: Any, engine: Engine) -> None:
    with unit_of_work(engine) as conn:
        created = tenants.create_workspace(conn, name="NoSso", sso_domains=[])
    admin = AdminApi(api, TenantHandle(created["id"], "", created["admin_token"]))
    refused = admin.post("/scim")
    assert refused.status_code == 409
    assert refused.json()["error"] == "sso_required" and refused.json()["detail"]
    with engine.connect() as conn:
        kinds = (
            conn.execute(select(api_tokens.c.kind).where(api_tokens.c.tenant_id == admin.tenant.id))
            .scalars()
            .all()
        )
    assert kinds == ["admin"]  # no SCIM token was issued
    admin.ok("PUT", "/sso", json={"domains": ["nosso.test"], "provider": "saml"})
    token = admin.ok("POST", "/scim", 201)["token"]
    response = api.get(
        f"/scim/v2/{admin.tenant.id}/Users", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200


def test_rule_02_a_scim_user_links_to_the_invited_member_by_email(
    admin: AdminApi, idp: IdpClient
) -> None:
    invited = admin.invite("Guest@Partner.test")
    idp.create_user("guest@PARTNER.test")
    idp.apply()
    listed = admin.ok("GET", "/members")["members"]
    assert sorted(m["email"].lower() for m in listed) == ["guest@partner.test", "owner@acme.test"]
    linked = admin.ok("GET", f"/members/{invited['id']}")
    assert (linked["scim_managed"], linked["status"]) == (True, "pending")


def test_rule_03_sso_domain_users_are_active_and_others_pending_until_accepted(
    admin: AdminApi, idp: IdpClient
) -> None:
    idp.create_user("in@acme.test")
    idp.create_user("out@partner.test")
    idp.apply()
    inside, outside = admin.member("in@acme.test"), admin.member("out@partner.test")
    assert (inside["status"], inside["can_login"]) == ("active", True)
    assert (outside["status"], outside["login_reason"]) == ("pending", "invitation_pending")
    accepted = admin.ok("POST", f"/members/{outside['id']}/accept-invitation", json=PASSWORD)
    assert (accepted["status"], accepted["can_login"], accepted["scim_managed"]) == (
        "active",
        True,
        True,
    )
    idp.set_active(idp.create_user("late@partner.test"), True)  # the IdP cannot skip rule 3
    idp.apply()
    assert admin.member("late@partner.test")["status"] == "pending"
    assert admin.member("out@partner.test")["status"] == "active"  # later pushes keep it


def test_rule_04_deactivation_keeps_memberships_and_permissions(
    admin: AdminApi, idp: IdpClient
) -> None:
    user = idp.create_user("in@acme.test")
    idp.create_group("Eng", [user])
    idp.apply()
    member_id = admin.member("in@acme.test")["id"]
    design = admin.native_group("Design")
    admin.ok("PUT", f"/groups/{design['id']}/members/{member_id}", 204)
    admin.ok(
        "PUT",
        f"/groups/{admin.group('Eng (SCIM)')['id']}/permissions",
        json=[{"path": "/eng", "access": "write"}],
    )
    before = admin.ok("GET", f"/members/{member_id}")
    billed = admin.billed()
    idp.set_active(user, False)
    idp.apply()
    off = admin.ok("GET", f"/members/{member_id}")
    assert (off["status"], off["can_login"]) == ("deactivated", False)
    assert admin.access("in@acme.test") == {"allowed": False, "reason": "deactivated"}
    assert admin.billed() == billed - 1
    assert (off["groups"], off["permissions"]) == (before["groups"], before["permissions"])
    idp.set_active(user, True)
    idp.apply()
    assert admin.ok("GET", f"/members/{member_id}") == before
    assert admin.billed() == billed


def test_rule_05_idp_delete_removes_the_member_but_never_the_owner(
    admin: AdminApi, idp: IdpClient
) -> None:
    user = idp.create_user("in@acme.test")
    owner_user = idp.create_user("owner@acme.test")
    idp.apply()
    member_id = admin.member("in@acme.test")["id"]
    owner = admin.member("owner@acme.test")
    assert owner["scim_managed"] is True
    idp.delete_user(user)
    idp.delete_user(owner_user)
    idp.apply()
    assert admin.get(f"/members/{member_id}").status_code == 404
    assert admin.access("in@acme.test") == {"allowed": False, "reason": "not_a_member"}
    kept = admin.ok("GET", f"/members/{owner['id']}")
    assert (kept["status"], kept["role"], kept["scim_managed"]) == ("active", "owner", False)


def test_rule_06_admin_cannot_delete_scim_managed_member(admin: AdminApi, idp: IdpClient) -> None:
    idp.create_user("in@acme.test")
    idp.apply()
    member = admin.member("in@acme.test")
    refused = admin.delete(f"/members/{member['id']}")
    assert refused.status_code == 409
    body = refused.json()
    assert body["error"] == "scim_managed" and "identity provider" in body["detail"]
    assert admin.ok("GET", f"/members/{member['id']}")["status"] == "active"


def test_rule_06_admin_may_add_a_scim_managed_member_to_a_native_group(
    admin: AdminApi, idp: IdpClient
) -> None:
    idp.create_user("in@acme.test")
    idp.apply()
    member = admin.member("in@acme.test")
    design = admin.native_group("Design")
    admin.ok("PUT", f"/groups/{design['id']}/members/{member['id']}", 204)
    idp.set_active(idp.create_user("other@acme.test"), True)
    idp.apply()  # later SCIM syncs leave the native membership alone
    groups = admin.member("in@acme.test")["groups"]
    assert [(g["name"], g["source"]) for g in groups] == [("Design", "native")]
    admin.ok("DELETE", f"/groups/{design['id']}/members/{member['id']}", 204)
    assert admin.member("in@acme.test")["groups"] == []


def test_rule_07_scim_groups_are_suffixed_and_locked_but_take_permissions(
    admin: AdminApi, idp: IdpClient
) -> None:
    admin.native_group("Eng")
    user = idp.create_user("in@acme.test")
    idp.create_group("Eng", [user])
    idp.apply()
    scim_group = admin.group("Eng (SCIM)")
    assert scim_group["scim_managed"] is True and admin.group("Eng")["scim_managed"] is False
    gid, guest = scim_group["id"], admin.invite("guest@partner.test")
    member_id = admin.member("in@acme.test")["id"]
    for method, path, body in [
        ("PATCH", f"/groups/{gid}", {"name": "Engineering"}),
        ("DELETE", f"/groups/{gid}", None),
        ("PUT", f"/groups/{gid}/members/{guest['id']}", None),
        ("DELETE", f"/groups/{gid}/members/{member_id}", None),
    ]:
        refused = admin.call(method, path, json=body)
        assert refused.status_code == 409, (method, path)
        assert refused.json()["error"] == "scim_managed", (method, path)
    granted = admin.ok(
        "PUT", f"/groups/{gid}/permissions", json=[{"path": "/eng", "access": "admin"}]
    )
    assert granted["permissions"] == [{"path": "/eng", "access": "admin"}]
    after = admin.group("Eng (SCIM)")
    assert (after["name"], after["member_count"]) == ("Eng (SCIM)", 1)
    assert admin.member("in@acme.test")["permissions"] == [{"path": "/eng", "access": "admin"}]


def test_rule_08_billing_counts_active_members_only(admin: AdminApi, idp: IdpClient) -> None:
    idp.create_user("in@acme.test")
    idp.create_user("out@partner.test")  # pending
    leaver = idp.create_user("leaver@acme.test")
    admin.invite("guest@partner.test")  # pending
    idp.apply()
    idp.set_active(leaver, False)
    idp.apply()
    assert admin.ok("GET", "/billing") == {"billed_members": 2}  # the Owner and in@


def test_rule_09_three_tabs(admin: AdminApi, idp: IdpClient) -> None:
    idp.create_user("in@acme.test")
    idp.create_user("out@partner.test")
    leaver = idp.create_user("leaver@acme.test")
    idp.apply()
    idp.set_active(leaver, False)
    idp.apply()
    tabs = {
        tab: sorted(
            m["email"] for m in admin.ok("GET", "/members", params={"status": tab})["members"]
        )
        for tab in ("active", "pending", "deactivated")
    }
    assert tabs == {
        "active": ["in@acme.test", "owner@acme.test"],
        "pending": ["out@partner.test"],
        "deactivated": ["leaver@acme.test"],
    }


def test_rule_10_google_workspace_provisions_users_only(api: Any, engine: Engine) -> None:
    google = make_tenant(
        engine, name="G", domains=("g.test",), idp="google", owner_email="owner@g.test"
    )
    admin, idp = AdminApi(api, google), IdpClient(api, google, engine)
    refused = api.post(
        f"{google.scim_base}/Groups", json=group_body("Eng"), headers=google.scim_headers
    )
    assert refused.status_code == 501
    assert refused.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert "users only" in refused.json()["detail"]
    idp.create_user("in@g.test")
    idp.apply()
    assert admin.ok("GET", "/groups") == {"groups": []}
    assert admin.member("in@g.test")["status"] == "active"


def test_rule_11_removing_sso_removes_scim_and_cascades(
    api: Any, admin: AdminApi, idp: IdpClient, tenant: TenantHandle
) -> None:
    keeps = idp.create_user("keeps@acme.test", password="s3cret-Passw0rd")
    loses = idp.create_user("loses@acme.test")
    leaver = idp.create_user("leaver@acme.test")
    owner = idp.create_user("owner@acme.test")
    idp.create_group("Eng", [keeps, loses, leaver])
    idp.apply()
    idp.set_active(leaver, False)
    idp.set_active(owner, False)  # refused for the Owner: stays active
    idp.apply()
    design = admin.native_group("Design")
    admin.ok("PUT", f"/groups/{design['id']}/members/{admin.member('loses@acme.test')['id']}", 204)
    report = admin.ok("DELETE", "/sso")
    assert report["tokens_revoked"] == 1
    assert report["counts"]["delete_group"] == 1 and report["counts"]["delete_member"] == 1
    assert api.get(f"{tenant.scim_base}/Users", headers=tenant.scim_headers).status_code == 401
    assert [g["name"] for g in admin.ok("GET", "/groups")["groups"]] == ["Design"]
    members = {
        m["email"]: (m["status"], m["scim_managed"]) for m in admin.ok("GET", "/members")["members"]
    }
    assert members == {
        "keeps@acme.test": ("active", False),
        "loses@acme.test": ("pending", False),
        "owner@acme.test": ("active", False),
    }
    assert [g["name"] for g in admin.member("loses@acme.test")["groups"]] == ["Design"]
    assert admin.post("/scim").json()["error"] == "sso_required"
