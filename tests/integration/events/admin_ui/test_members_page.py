"""The Members and Groups pages over HTTP, as an admin's browser would load them.

Findings of the admin-side audit, each failing before: no admin saw any of it (1), SCIM
off with SSO on left everything locked (6), provisioning problems were invisible (7).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Engine, func, select

from storage.schema import audit_log
from tests.integration.events.admin.support import AdminApi, IdpClient
from tests.support.workspace import TenantHandle, user_body
from worker.pipeline import drain


def get(api: Any, tenant: TenantHandle, path: str, **headers: str) -> Any:
    return api.get(f"/workspaces/{tenant.id}{path}", headers={**tenant.admin_headers, **headers})


def post(api: Any, tenant: TenantHandle, path: str, data: dict[str, str] | None = None) -> Any:
    return api.post(
        f"/workspaces/{tenant.id}{path}",
        data=data or {},
        headers=tenant.admin_headers,
        follow_redirects=False,
    )


def count(html: str, tab: str) -> int:
    found = re.search(rf'id="tab-{tab}"[^>]*>[^<]*<span class="count">\((\d+)\)', html)
    assert found, tab
    return int(found.group(1))


def test_finding_1_the_members_page_shows_tabs_badges_billing_and_the_rules(
    api: Any, admin: AdminApi, idp: IdpClient, tenant: TenantHandle
) -> None:
    alice = idp.create_user("alice@acme.test")
    idp.create_user("guest@partner.test")  # an external user: pending
    carol = idp.create_user("carol@acme.test")
    idp.apply()
    idp.set_active(carol, False)
    idp.apply()
    admin.invite("native@partner.test")
    page = get(api, tenant, "/members")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert (count(html, "active"), count(html, "pending"), count(html, "deactivated")) == (2, 2, 1)
    assert re.search(r'id="billed">2<', html)  # the Owner and alice; not pending nor deactivated
    assert "managed by Okta" in html
    # Deleting a SCIM-managed member is disabled, with the rule's reason on hover and shown
    assert "Cannot delete: cannot delete this member: it is managed by SCIM" in html
    assert "the workspace Owner cannot be deleted" in html
    assert 'class="trace-link"' in html  # each row links to the member's timeline
    pending = get(api, tenant, "/members?tab=pending").text
    assert "guest@partner.test" in pending and "Not sent yet" in pending
    assert count(get(api, tenant, "/members?tab=deactivated").text, "deactivated") == 1
    # a refused action says why, in words
    alice_id = admin.member("alice@acme.test")["id"]
    refused = post(api, tenant, f"/members/{alice_id}/delete")
    assert refused.status_code == 409
    assert "Refused: cannot delete this member: it is managed by SCIM" in refused.text
    assert alice


def test_the_groups_page_locks_scim_groups_but_not_their_permissions(
    api: Any, admin: AdminApi, idp: IdpClient, tenant: TenantHandle
) -> None:
    alice = idp.create_user("alice@acme.test")
    idp.create_group("Eng", [alice])
    idp.apply()
    html = get(api, tenant, "/groups").text
    assert "Eng (SCIM)" in html and "Cannot rename: cannot rename this group" in html
    eng = admin.group("Eng (SCIM)")
    assert post(api, tenant, f"/groups/{eng['id']}/rename", {"name": "X"}).status_code == 409
    granted = post(
        api, tenant, f"/groups/{eng['id']}/permissions", {"path": "/eng", "access": "write"}
    )
    assert granted.status_code == 303
    assert admin.group("Eng (SCIM)")["permissions"] == [{"path": "/eng", "access": "write"}]
    faked = post(api, tenant, "/groups", {"name": "Sales (SCIM)"})
    assert faked.status_code == 409 and "reserved for groups your identity provider" in faked.text
    assert post(api, tenant, "/groups", {"name": "Design"}).status_code == 303
    design = admin.group("Design")
    alice_id = admin.member("alice@acme.test")["id"]
    added = post(api, tenant, f"/groups/{design['id']}/members", {"member_id": alice_id})
    assert added.status_code == 303  # a SCIM user may join a native group
    assert admin.group("Design")["member_count"] == 1


def test_finding_6_scim_off_with_sso_on_pause_keeps_locks_disconnect_frees_them(
    api: Any, admin: AdminApi, idp: IdpClient, tenant: TenantHandle, engine: Engine
) -> None:
    alice = idp.create_user("alice@acme.test")
    idp.create_group("Eng", [alice])
    idp.apply()
    assert post(api, tenant, "/scim/pause").status_code == 303
    paused = get(api, tenant, "/members").text
    assert "Provisioning paused" in paused
    assert admin.member("alice@acme.test")["scim_managed"] is True  # locks kept
    scim = api.get(f"{tenant.scim_base}/Users", headers=tenant.scim_headers)
    assert scim.status_code == 401  # the IdP's token stopped working

    assert post(api, tenant, "/scim/disconnect").status_code == 303
    assert admin.member("alice@acme.test")["scim_managed"] is False
    groups = admin.ok("GET", "/groups")["groups"]
    assert [(g["name"], g["scim_managed"]) for g in groups] == [("Eng", False)]
    alice_id = admin.member("alice@acme.test")["id"]
    assert post(api, tenant, f"/members/{alice_id}/delete").status_code == 303  # unlocked
    assert "Provisioning paused" not in get(api, tenant, "/members").text
    with engine.connect() as conn:
        actions = set(
            conn.execute(
                select(audit_log.c.action).where(
                    audit_log.c.tenant_id == tenant.id,
                    audit_log.c.action.in_(["pause_scim", "disconnect_scim"]),
                )
            ).scalars()
        )
        assert conn.execute(select(func.count()).select_from(audit_log)).scalar_one() > 0
    assert actions == {"pause_scim", "disconnect_scim"}


def test_finding_7_the_provisioning_tab_lists_what_could_not_be_applied(
    api: Any, admin: AdminApi, idp: IdpClient, tenant: TenantHandle
) -> None:
    idp.create_user("ann@acme.test")
    # A second IdP user claiming ann's address: the workspace cannot apply it.
    clash = user_body("ann.other@acme.test", emails=[{"value": "ann@acme.test", "primary": True}])
    made = api.post(f"{tenant.scim_base}/Users", json=clash, headers=tenant.scim_headers)
    assert made.status_code == 201
    drain(idp.engine, tenant.id, batch_size=500, time_budget=30)
    html = get(api, tenant, "/members?tab=provisioning").text
    assert count(html, "provisioning") >= 1
    assert "Two people claim the same email address" in html
    assert "Give each person their own email in your identity provider" in html


def test_the_page_needs_the_admin_token_or_a_session_made_from_it(
    api: Any, tenant: TenantHandle
) -> None:
    anonymous = api.get(f"/workspaces/{tenant.id}/members")
    assert anonymous.status_code == 401 and "admin token" in anonymous.text
    wrong = api.post(f"/workspaces/{tenant.id}/login", data={"token": "nope"})
    assert wrong.status_code == 401
    login = api.post(
        f"/workspaces/{tenant.id}/login",
        data={"token": tenant.admin_token},
        follow_redirects=False,
    )
    assert login.status_code == 303
    cookie = login.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert tenant.admin_token not in cookie
    assert api.get(f"/workspaces/{tenant.id}/members").status_code == 200  # the session
    other = api.get("/workspaces/another-tenant/members")
    assert other.status_code == 401  # the cookie is scoped to its own workspace
