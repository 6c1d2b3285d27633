"""Issue 3's end-to-end scenario: the IdP and an admin share one workspace, over HTTP.

The IdP's SCIM writes reach the workspace through the worker (`drain`, run
between steps); the admin's calls are immediate. Ends with the rule-11 cascade,
checked row by row in SQL.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from storage.schema import (
    api_tokens,
    group_memberships,
    group_permissions,
    invitations,
    members,
    tenants,
    workspace_groups,
)
from tests.integration.events.admin.support import AdminApi, IdpClient
from tests.support.workspace import TenantHandle


def _rows(engine: Engine, tenant_id: str) -> dict[str, Any]:
    """The workspace's rows, keyed by email and group name so they read like the story."""
    with engine.connect() as conn:
        people = conn.execute(select(members).where(members.c.tenant_id == tenant_id)).all()
        groups = conn.execute(
            select(workspace_groups).where(workspace_groups.c.tenant_id == tenant_id)
        ).all()
        links = conn.execute(
            select(group_memberships).where(group_memberships.c.tenant_id == tenant_id)
        ).all()
        grants = conn.execute(
            select(group_permissions).where(group_permissions.c.tenant_id == tenant_id)
        ).all()
        invites = conn.execute(
            select(invitations).where(invitations.c.tenant_id == tenant_id)
        ).all()
        tenant = conn.execute(select(tenants).where(tenants.c.id == tenant_id)).one()
        tokens = conn.execute(
            select(api_tokens.c.kind, api_tokens.c.revoked_at).where(
                api_tokens.c.tenant_id == tenant_id
            )
        ).all()
    email = {p.id: p.email_ci for p in people}
    name = {g.id: g.name for g in groups}
    return {
        "members": {
            p.email_ci: (p.status, p.scim_user_id is not None, bool(p.has_password)) for p in people
        },
        "groups": {g.name: g.scim_group_id is not None for g in groups},
        "memberships": {(name[m.group_id], email[m.member_id], m.source) for m in links},
        "permissions": {(name[g.group_id], g.path, g.access) for g in grants},
        "open_invitations": sorted(
            email.get(i.member_id, "?") for i in invites if i.accepted_at is None
        ),
        "sso_and_scim": (tenant.sso_configured, tenant.scim_enabled),
        "live_tokens": sorted(t.kind for t in tokens if t.revoked_at is None),
    }


def test_members_page_scenario(
    api: Any, admin: AdminApi, idp: IdpClient, engine: Engine, tenant: TenantHandle
) -> None:
    # 1. The IdP creates a user in the SSO domain and one outside it, in a SCIM group.
    alice = idp.create_user("alice@acme.test")
    bob = idp.create_user("bob@partner.test", password="b0b-s3cret-pass")
    idp.create_group("Engineering", [alice, bob])
    idp.apply()
    assert admin.member("alice@acme.test")["status"] == "active"
    assert admin.member("bob@partner.test")["status"] == "pending"
    eng = admin.group("Engineering (SCIM)")
    assert (eng["scim_managed"], eng["member_count"]) == (True, 2)

    # 2. The admin gives the SCIM group folder permissions and adds Alice to a native group.
    admin.ok(
        "PUT",
        f"/groups/{eng['id']}/permissions",
        json=[{"path": "/eng", "access": "write"}, {"path": "/eng/secrets", "access": "admin"}],
    )
    design = admin.native_group("Design")
    admin.ok(
        "PUT",
        f"/groups/{design['id']}/permissions",
        json=[{"path": "/eng", "access": "read"}, {"path": "/design", "access": "write"}],
    )
    alice_id = admin.member("alice@acme.test")["id"]
    admin.ok("PUT", f"/groups/{design['id']}/members/{alice_id}", 204)
    alice_before = admin.ok("GET", f"/members/{alice_id}")
    assert alice_before["permissions"] == [
        {"path": "/design", "access": "write"},
        {"path": "/eng", "access": "write"},
        {"path": "/eng/secrets", "access": "admin"},
    ]
    assert admin.access("alice@acme.test") == {"allowed": True, "reason": "active"}
    assert admin.billed() == 2  # the Owner and Alice; Bob is pending

    # 3. The IdP deactivates Alice: no login, not billed, groups and permissions kept.
    idp.set_active(alice, False)
    idp.apply()
    assert admin.access("alice@acme.test") == {"allowed": False, "reason": "deactivated"}
    assert admin.billed() == 1
    alice_off = admin.ok("GET", f"/members/{alice_id}")
    assert alice_off["status"] == "deactivated"
    assert alice_off["groups"] == alice_before["groups"]
    assert alice_off["permissions"] == alice_before["permissions"]
    assert [
        m["email"] for m in admin.ok("GET", "/members", params={"status": "deactivated"})["members"]
    ] == ["alice@acme.test"]

    # 4. The admin tries to delete her and to rename the SCIM group: both refused.
    refused = admin.delete(f"/members/{alice_id}")
    assert (refused.status_code, refused.json()["error"]) == (409, "scim_managed")
    refused = admin.patch(f"/groups/{eng['id']}", json={"name": "Eng"})
    assert (refused.status_code, refused.json()["error"]) == (409, "scim_managed")
    assert admin.group("Engineering (SCIM)")["member_count"] == 2

    # 5. The IdP reactivates her: everything is back.
    idp.set_active(alice, True)
    idp.apply()
    assert admin.ok("GET", f"/members/{alice_id}") == alice_before
    assert admin.access("alice@acme.test") == {"allowed": True, "reason": "active"}
    assert admin.billed() == 2

    # Before SSO goes: Bob accepts his invitation (and so has a password); Carol joins
    # and is deactivated; the IdP deactivates the Owner's user, which is refused.
    bob_id = admin.member("bob@partner.test")["id"]
    admin.ok(
        "POST", f"/members/{bob_id}/accept-invitation", json={"password": "correct horse battery"}
    )
    carol = idp.create_user("carol@acme.test")
    owner = idp.create_user("owner@acme.test")
    idp.apply()
    idp.set_active(carol, False)
    idp.set_active(owner, False)
    idp.apply()
    before = _rows(engine, tenant.id)
    assert before["members"] == {
        "owner@acme.test": ("active", True, True),
        "alice@acme.test": ("active", True, False),
        "bob@partner.test": ("active", True, True),
        "carol@acme.test": ("deactivated", True, False),
    }
    assert before["groups"] == {"Engineering (SCIM)": True, "Design": False}
    assert before["memberships"] == {
        ("Engineering (SCIM)", "alice@acme.test", "scim"),
        ("Engineering (SCIM)", "bob@partner.test", "scim"),
        ("Design", "alice@acme.test", "native"),
    }

    # 6. SSO is removed: the rule-11 cascade, row by row.
    report = admin.ok("DELETE", "/sso")
    assert report["tokens_revoked"] == 1
    after = _rows(engine, tenant.id)
    assert after["members"] == {
        "owner@acme.test": ("active", False, True),  # the Owner stays, no longer managed
        "alice@acme.test": ("pending", False, False),  # no password: pending, re-invited
        "bob@partner.test": ("active", False, True),  # a password: keeps working
        # carol (deactivated) is deleted permanently
    }
    assert after["groups"] == {"Design": False}  # the SCIM group is gone
    assert after["memberships"] == {("Design", "alice@acme.test", "native")}
    assert after["permissions"] == {("Design", "/eng", "read"), ("Design", "/design", "write")}
    assert after["open_invitations"] == []  # the admin sends them from the Pending tab
    assert after["sso_and_scim"] == (False, False)
    assert after["live_tokens"] == ["admin"]
    assert api.get(f"{tenant.scim_base}/Users", headers=tenant.scim_headers).status_code == 401
    assert admin.access("carol@acme.test") == {"allowed": False, "reason": "not_a_member"}
    assert admin.access("alice@acme.test") == {"allowed": False, "reason": "invitation_pending"}
    assert admin.access("bob@partner.test") == {"allowed": True, "reason": "active"}
    assert admin.billed() == 2
    actions = [e["action"] for e in admin.ok("GET", "/audit", params={"limit": 1})["entries"]]
    assert actions == ["remove_sso"]
