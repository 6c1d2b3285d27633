"""Groups over HTTP: native groups, their members, and permissions on any group."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from storage.schema import group_memberships, group_permissions
from tests.integration.events.admin.support import AdminApi, IdpClient
from tests.support.workspace import TenantHandle


def test_create_list_rename_and_delete_a_native_group(admin: AdminApi) -> None:
    created = admin.native_group("Design")
    assert created == {
        "id": created["id"],
        "name": "Design",
        "scim_managed": False,
        "member_count": 0,
        "permissions": [],
    }
    renamed = admin.ok("PATCH", f"/groups/{created['id']}", json={"name": "Brand"})
    assert renamed["name"] == "Brand"
    assert [g["name"] for g in admin.ok("GET", "/groups")["groups"]] == ["Brand"]
    admin.ok("DELETE", f"/groups/{created['id']}", 204)
    assert admin.ok("GET", "/groups") == {"groups": []}


def test_group_names_are_unique_case_insensitively(admin: AdminApi) -> None:
    design = admin.native_group("Design")
    sales = admin.native_group("Sales")
    taken = admin.post("/groups", json={"name": "design"})
    assert taken.status_code == 409 and taken.json()["error"] == "name_taken"
    clash = admin.patch(f"/groups/{sales['id']}", json={"name": "DESIGN"})
    assert clash.status_code == 409 and clash.json()["error"] == "name_taken"
    # a group may change the case of its own name
    assert admin.ok("PATCH", f"/groups/{design['id']}", json={"name": "DESIGN"})["name"] == "DESIGN"


def test_group_names_must_not_be_blank(admin: AdminApi) -> None:
    for body in ({"name": "   "}, {}, {"name": "x" * 201}):
        assert admin.post("/groups", json=body).status_code == 400, body


def test_adding_and_removing_members_of_a_native_group(admin: AdminApi) -> None:
    guest = admin.invite("guest@partner.test")
    group = admin.native_group("Design")
    path = f"/groups/{group['id']}/members/{guest['id']}"
    admin.ok("PUT", path, 204)
    admin.ok("PUT", path, 204)  # idempotent
    assert admin.group("Design")["member_count"] == 1
    assert [g["name"] for g in admin.member("guest@partner.test")["groups"]] == ["Design"]
    admin.ok("DELETE", path, 204)
    assert admin.member("guest@partner.test")["groups"] == []
    gone = admin.delete(path)
    assert gone.status_code == 404 and gone.json()["error"] == "not_found"


def test_deleting_a_group_takes_its_memberships_and_permissions(
    admin: AdminApi, engine: Engine, tenant: TenantHandle
) -> None:
    guest = admin.invite("guest@partner.test")
    group = admin.native_group("Design")
    admin.ok("PUT", f"/groups/{group['id']}/members/{guest['id']}", 204)
    admin.ok("PUT", f"/groups/{group['id']}/permissions", json=[{"path": "/d", "access": "read"}])
    admin.ok("DELETE", f"/groups/{group['id']}", 204)
    assert admin.member("guest@partner.test")["permissions"] == []
    with engine.connect() as conn:
        for table in (group_memberships, group_permissions):
            assert conn.execute(select(table).where(table.c.tenant_id == tenant.id)).all() == []


def test_permissions_replace_the_groups_permissions(admin: AdminApi) -> None:
    group = admin.native_group("Design")
    path = f"/groups/{group['id']}/permissions"
    first = admin.ok(
        "PUT", path, json=[{"path": "/a", "access": "read"}, {"path": "/b", "access": "write"}]
    )
    assert first["permissions"] == [
        {"path": "/a", "access": "read"},
        {"path": "/b", "access": "write"},
    ]
    second = admin.ok("PUT", path, json=[{"path": "/b", "access": "admin"}])
    assert second["permissions"] == [{"path": "/b", "access": "admin"}]
    assert admin.group("Design")["permissions"] == [{"path": "/b", "access": "admin"}]
    assert admin.ok("PUT", path, json=[])["permissions"] == []


def test_bad_permission_lists_are_refused_and_change_nothing(admin: AdminApi) -> None:
    group = admin.native_group("Design")
    path = f"/groups/{group['id']}/permissions"
    admin.ok("PUT", path, json=[{"path": "/a", "access": "read"}])
    for body in (
        [{"path": "/a", "access": "owner"}],
        [{"path": "", "access": "read"}],
        [{"path": "/a", "access": "read"}, {"path": "/a", "access": "write"}],
        {"path": "/a", "access": "read"},
        [{"access": "read"}],
    ):
        response = admin.put(path, json=body)
        assert response.status_code == 400, body
        assert response.json()["error"] == "invalid_request"
    assert admin.group("Design")["permissions"] == [{"path": "/a", "access": "read"}]


def test_unknown_group_or_member_ids_answer_404(admin: AdminApi) -> None:
    guest = admin.invite("guest@partner.test")
    group = admin.native_group("Design")
    calls: list[tuple[str, str, Any]] = [
        ("PATCH", "/groups/nope", {"name": "X"}),
        ("DELETE", "/groups/nope", None),
        ("PUT", f"/groups/nope/members/{guest['id']}", None),
        ("DELETE", f"/groups/nope/members/{guest['id']}", None),
        ("PUT", f"/groups/{group['id']}/members/nope", None),
        ("DELETE", f"/groups/{group['id']}/members/nope", None),
        ("PUT", "/groups/nope/permissions", []),
    ]
    for method, path, body in calls:
        response = admin.call(method, path, json=body)
        assert response.status_code == 404, (method, path)
        assert response.json()["error"] == "not_found"


def test_scim_groups_are_listed_as_scim_managed(admin: AdminApi, idp: IdpClient) -> None:
    user = idp.create_user("in@acme.test")
    idp.create_group("Eng", [user])
    idp.apply()
    admin.native_group("Design")
    listed = {
        g["name"]: (g["scim_managed"], g["member_count"])
        for g in admin.ok("GET", "/groups")["groups"]
    }
    assert listed == {"Design": (False, 0), "Eng (SCIM)": (True, 1)}
