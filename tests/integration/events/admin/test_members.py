"""Members over HTTP: the tabs, the detail, invite, accept an invitation, delete."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from storage.schema import audit_log, invitations, members
from tests.integration.events.admin.support import AdminApi, IdpClient
from tests.support.workspace import TenantHandle


def test_invite_creates_a_pending_member_with_an_open_invitation(
    admin: AdminApi, engine: Engine, tenant: TenantHandle
) -> None:
    created = admin.ok(
        "POST", "/members", 201, json={"email": "Guest@Partner.test", "display_name": "Guest"}
    )
    assert created["email"] == "Guest@Partner.test"
    assert (created["status"], created["scim_managed"], created["can_login"]) == (
        "pending",
        False,
        False,
    )
    assert created["login_reason"] == "invitation_pending"
    with engine.connect() as conn:
        rows = conn.execute(
            select(invitations.c.email, invitations.c.accepted_at).where(
                invitations.c.tenant_id == tenant.id, invitations.c.member_id == created["id"]
            )
        ).all()
    assert [(r.email, r.accepted_at) for r in rows] == [("Guest@Partner.test", None)]


def test_invite_of_an_existing_email_is_refused_case_insensitively(admin: AdminApi) -> None:
    admin.invite("guest@partner.test")
    response = admin.post("/members", json={"email": "GUEST@partner.TEST"})
    assert response.status_code == 409
    assert response.json()["error"] == "already_member"
    assert len(admin.ok("GET", "/members")["members"]) == 2  # the Owner and the guest


def test_invite_needs_an_email_address(admin: AdminApi) -> None:
    for body in ({"email": "not-an-address"}, {}, {"email": "a@b.test", "role": "owner"}):
        response = admin.post("/members", json=body)
        assert response.status_code == 400, body
        assert response.json()["error"] == "invalid_request"


def test_accepting_an_invitation_makes_the_member_active(
    admin: AdminApi, engine: Engine, tenant: TenantHandle
) -> None:
    guest = admin.invite("guest@partner.test")
    billed = admin.billed()
    accepted = admin.ok(
        "POST",
        f"/members/{guest['id']}/accept-invitation",
        json={"password": "correct horse battery"},
    )
    assert (accepted["status"], accepted["has_password"], accepted["can_login"]) == (
        "active",
        True,
        True,
    )
    assert admin.billed() == billed + 1
    assert admin.access("guest@partner.test") == {"allowed": True, "reason": "active"}
    with engine.connect() as conn:
        opened = conn.execute(
            select(invitations.c.accepted_at).where(
                invitations.c.tenant_id == tenant.id, invitations.c.member_id == guest["id"]
            )
        )
        assert opened.scalar_one() is not None


def test_only_a_pending_member_accepts_an_invitation(admin: AdminApi) -> None:
    guest = admin.invite("guest@partner.test")
    path = f"/members/{guest['id']}/accept-invitation"
    admin.ok("POST", path, json={"password": "correct horse battery"})
    again = admin.post(path, json={"password": "correct horse battery"})
    assert again.status_code == 409 and again.json()["error"] == "not_pending"
    owner = admin.member("owner@acme.test")
    refused = admin.post(
        f"/members/{owner['id']}/accept-invitation", json={"password": "correct horse battery"}
    )
    assert refused.status_code == 409 and refused.json()["error"] == "not_pending"


def test_accepting_needs_a_password(admin: AdminApi) -> None:
    guest = admin.invite("guest@partner.test")
    for body in ({}, {"password": "short"}):
        response = admin.post(f"/members/{guest['id']}/accept-invitation", json=body)
        assert response.status_code == 400, body
    assert admin.member("guest@partner.test")["status"] == "pending"


def test_deleting_a_native_member_removes_it_with_its_memberships(
    admin: AdminApi, engine: Engine, tenant: TenantHandle
) -> None:
    guest = admin.invite("guest@partner.test")
    group = admin.native_group("Design")
    admin.ok("PUT", f"/groups/{group['id']}/members/{guest['id']}", 204)
    admin.ok("DELETE", f"/members/{guest['id']}", 204)
    assert admin.get(f"/members/{guest['id']}").status_code == 404
    assert admin.group("Design")["member_count"] == 0
    assert admin.access("guest@partner.test") == {"allowed": False, "reason": "not_a_member"}
    with engine.connect() as conn:
        left = conn.execute(
            select(invitations).where(
                invitations.c.tenant_id == tenant.id, invitations.c.member_id == guest["id"]
            )
        )
        assert left.all() == []


def test_the_owner_cannot_be_deleted(admin: AdminApi) -> None:
    owner = admin.member("owner@acme.test")
    response = admin.delete(f"/members/{owner['id']}")
    assert response.status_code == 409
    assert response.json()["error"] == "owner_protected"
    assert admin.member("owner@acme.test")["status"] == "active"


def test_unknown_member_ids_answer_404(admin: AdminApi) -> None:
    for method, path, body in [
        ("GET", "/members/nope", None),
        ("DELETE", "/members/nope", None),
        ("POST", "/members/nope/accept-invitation", {"password": "correct horse battery"}),
    ]:
        response = admin.call(method, path, json=body)
        assert response.status_code == 404, (method, path)
        assert response.json()["error"] == "not_found"


def test_the_list_filters_by_tab_and_counts_every_tab(admin: AdminApi, idp: IdpClient) -> None:
    idp.create_user("in@acme.test")
    leaver = idp.create_user("leaver@acme.test")
    admin.invite("guest@partner.test")
    idp.apply()
    idp.set_active(leaver, False)
    idp.apply()
    everyone = admin.ok("GET", "/members")
    assert everyone["counts"] == {"active": 2, "pending": 1, "deactivated": 1}
    assert sorted(m["email"] for m in everyone["members"]) == [
        "guest@partner.test",
        "in@acme.test",
        "leaver@acme.test",
        "owner@acme.test",
    ]
    tabs = {
        status: [
            m["email"] for m in admin.ok("GET", "/members", params={"status": status})["members"]
        ]
        for status in ("active", "pending", "deactivated")
    }
    assert tabs == {
        "active": ["in@acme.test", "owner@acme.test"],
        "pending": ["guest@partner.test"],
        "deactivated": ["leaver@acme.test"],
    }
    assert admin.get("/members", params={"status": "gone"}).status_code == 400


def test_detail_shows_groups_and_the_best_access_per_path(admin: AdminApi) -> None:
    guest = admin.invite("guest@partner.test")
    readers, writers = admin.native_group("Readers"), admin.native_group("Writers")
    admin.native_group("Admins")  # not the guest's group: its grants do not count
    admin.ok(
        "PUT",
        f"/groups/{readers['id']}/permissions",
        json=[{"path": "/finance", "access": "read"}, {"path": "/handbook", "access": "read"}],
    )
    admin.ok(
        "PUT",
        f"/groups/{writers['id']}/permissions",
        json=[{"path": "/finance", "access": "write"}, {"path": "/eng", "access": "admin"}],
    )
    admin.ok(
        "PUT",
        f"/groups/{admin.group('Admins')['id']}/permissions",
        json=[{"path": "/finance", "access": "admin"}],
    )
    for group in (readers, writers):
        admin.ok("PUT", f"/groups/{group['id']}/members/{guest['id']}", 204)
    detail = admin.ok("GET", f"/members/{guest['id']}")
    assert [(g["name"], g["source"], g["scim_managed"]) for g in detail["groups"]] == [
        ("Readers", "native", False),
        ("Writers", "native", False),
    ]
    assert detail["permissions"] == [
        {"path": "/eng", "access": "admin"},
        {"path": "/finance", "access": "write"},
        {"path": "/handbook", "access": "read"},
    ]


def test_each_admin_action_writes_an_audit_row(
    admin: AdminApi, engine: Engine, tenant: TenantHandle
) -> None:
    guest = admin.invite("guest@partner.test")
    admin.ok(
        "POST",
        f"/members/{guest['id']}/accept-invitation",
        json={"password": "correct horse battery"},
    )
    admin.ok("DELETE", f"/members/{guest['id']}", 204)
    with engine.connect() as conn:
        rows = conn.execute(
            select(audit_log).where(audit_log.c.tenant_id == tenant.id).order_by(audit_log.c.id)
        ).all()
        token_ids = {r.actor for r in rows}
    assert [(r.action, r.target) for r in rows] == [
        ("invite_member", f"member:{guest['id']}"),
        ("send_invitation", f"member:{guest['id']}"),  # the mail is queued too
        ("accept_invitation", f"member:{guest['id']}"),
        ("delete_member", f"member:{guest['id']}"),
    ]
    assert len(token_ids) == 1 and token_ids != {tenant.admin_token}  # the token id, not it
    entries = admin.ok("GET", "/audit", params={"limit": 2})["entries"]
    assert [e["action"] for e in entries] == ["delete_member", "accept_invitation"]
    assert entries[0]["actor"] == rows[-1].actor and entries[0]["at"]


def test_members_table_holds_no_password(
    admin: AdminApi, engine: Engine, tenant: TenantHandle
) -> None:
    guest = admin.invite("guest@partner.test")
    admin.ok(
        "POST",
        f"/members/{guest['id']}/accept-invitation",
        json={"password": "correct horse battery"},
    )
    with engine.connect() as conn:
        row: Any = conn.execute(select(members).where(members.c.id == guest["id"])).one()
        audit = conn.execute(select(audit_log.c.detail)).scalars().all()
    assert "correct horse battery" not in repr(tuple(row)) + repr(audit)
