"""SCIM /Groups: set-based membership, big groups, member PATCH paths."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from storage.schema import mirror_group_members
from tests.support.workspace import TenantHandle, group_body, make_tenant, patch_body, user_body


@pytest.fixture
def tenant(engine: Any, service_env: Any) -> TenantHandle:
    return make_tenant(engine)


def users(api: Any, tenant: TenantHandle, n: int, prefix: str = "m") -> list[str]:
    ids = []
    for i in range(n):
        r = api.post(
            f"{tenant.scim_base}/Users",
            json=user_body(f"{prefix}{i}@acme.test"),
            headers=tenant.scim_headers,
        )
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    return ids


def member_ids(api: Any, tenant: TenantHandle, group_id: str) -> set[str]:
    body = api.get(f"{tenant.scim_base}/Groups/{group_id}", headers=tenant.scim_headers).json()
    return {m["value"] for m in body.get("members", [])}


def test_group_created_empty_then_filled_by_patch(api: Any, tenant: TenantHandle) -> None:
    a, b, c = users(api, tenant, 3)
    group = api.post(
        f"{tenant.scim_base}/Groups", json=group_body("Sales"), headers=tenant.scim_headers
    ).json()
    response = api.patch(
        f"{tenant.scim_base}/Groups/{group['id']}",
        headers=tenant.scim_headers,
        json=patch_body(
            {"op": "add", "path": "members", "value": [{"value": a}, {"value": b}, {"value": c}]}
        ),
    )
    assert response.status_code == 200, response.text
    assert member_ids(api, tenant, group["id"]) == {a, b, c}
    api.patch(
        f"{tenant.scim_base}/Groups/{group['id']}",
        headers=tenant.scim_headers,
        json=patch_body({"op": "remove", "path": f'members[value eq "{b}"]'}),
    )
    assert member_ids(api, tenant, group["id"]) == {a, c}
    api.patch(
        f"{tenant.scim_base}/Groups/{group['id']}",
        headers=tenant.scim_headers,
        json=patch_body({"op": "Remove", "path": "members", "value": [{"value": a}]}),
    )
    assert member_ids(api, tenant, group["id"]) == {c}


def test_unknown_member_id_is_refused(api: Any, tenant: TenantHandle) -> None:
    response = api.post(
        f"{tenant.scim_base}/Groups",
        json=group_body("Ghosts", ["00000000-0000-0000-0000-000000000000"]),
        headers=tenant.scim_headers,
    )
    assert response.status_code == 400 and response.json()["scimType"] == "invalidValue"


def test_members_of_another_tenant_cannot_be_referenced(
    api: Any, tenant: TenantHandle, engine: Any
) -> None:
    other = make_tenant(engine, name="Other", domains=("other.test",))
    foreign = api.post(
        f"{other.scim_base}/Users", json=user_body("x@other.test"), headers=other.scim_headers
    ).json()["id"]
    response = api.post(
        f"{tenant.scim_base}/Groups",
        json=group_body("Mixed", [foreign]),
        headers=tenant.scim_headers,
    )
    assert response.status_code == 400
    assert (
        api.get(f"{tenant.scim_base}/Users/{foreign}", headers=tenant.scim_headers).status_code
        == 404
    )


def test_excluded_members_and_filter_by_member(api: Any, tenant: TenantHandle) -> None:
    (a,) = users(api, tenant, 1)
    group = api.post(
        f"{tenant.scim_base}/Groups", json=group_body("Ops", [a]), headers=tenant.scim_headers
    ).json()
    slim = api.get(
        f"{tenant.scim_base}/Groups/{group['id']}",
        params={"excludedAttributes": "members"},
        headers=tenant.scim_headers,
    ).json()
    assert "members" not in slim and slim["displayName"] == "Ops"
    found = api.get(
        f"{tenant.scim_base}/Groups",
        params={"filter": f'members.value eq "{a}"'},
        headers=tenant.scim_headers,
    ).json()
    assert [g["id"] for g in found["Resources"]] == [group["id"]]
    by_name = api.get(
        f"{tenant.scim_base}/Groups",
        params={"filter": 'displayName eq "ops"'},
        headers=tenant.scim_headers,
    ).json()
    assert by_name["totalResults"] == 1


def test_rename_by_no_path_replace(api: Any, tenant: TenantHandle) -> None:
    group = api.post(
        f"{tenant.scim_base}/Groups", json=group_body("Old"), headers=tenant.scim_headers
    ).json()
    response = api.patch(
        f"{tenant.scim_base}/Groups/{group['id']}",
        headers=tenant.scim_headers,
        json=patch_body({"op": "replace", "value": {"id": group["id"], "displayName": "New"}}),
    )
    assert response.status_code == 200, response.text
    assert response.json()["displayName"] == "New"
    assert response.json()["meta"]["version"] == 'W/"2"'


def test_big_group_patch_is_set_based(api: Any, tenant: TenantHandle, engine: Any) -> None:
    """5,000 members added in one PATCH, then a GET without members stays cheap."""
    from storage import mirror
    from storage.clock import utcnow
    from storage.db import unit_of_work

    with unit_of_work(engine) as conn:
        ids = [
            mirror.insert_user(
                conn, tenant.id, user_body(f"bulk{i}@acme.test"), has_password=False, now=utcnow()
            ).id
            for i in range(5000)
        ]
    group = api.post(
        f"{tenant.scim_base}/Groups", json=group_body("All"), headers=tenant.scim_headers
    ).json()
    response = api.patch(
        f"{tenant.scim_base}/Groups/{group['id']}",
        headers=tenant.scim_headers,
        params={"excludedAttributes": "members"},
        json=patch_body({"op": "add", "path": "members", "value": [{"value": i} for i in ids]}),
    )
    assert response.status_code == 200, response.text
    assert "members" not in response.json()
    with engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(mirror_group_members)).scalar_one()
    assert count == 5000
    assert len(member_ids(api, tenant, group["id"])) == 5000


def test_put_replaces_member_set(api: Any, tenant: TenantHandle) -> None:
    a, b = users(api, tenant, 2)
    group = api.post(
        f"{tenant.scim_base}/Groups", json=group_body("Put", [a]), headers=tenant.scim_headers
    ).json()
    api.put(
        f"{tenant.scim_base}/Groups/{group['id']}",
        json=group_body("Put", [b]),
        headers=tenant.scim_headers,
    )
    assert member_ids(api, tenant, group["id"]) == {b}


def test_deleting_a_user_removes_it_from_groups(api: Any, tenant: TenantHandle) -> None:
    a, b = users(api, tenant, 2)
    group = api.post(
        f"{tenant.scim_base}/Groups", json=group_body("G", [a, b]), headers=tenant.scim_headers
    ).json()
    api.delete(f"{tenant.scim_base}/Users/{a}", headers=tenant.scim_headers)
    assert member_ids(api, tenant, group["id"]) == {b}


def test_google_tenant_refuses_groups(api: Any, engine: Any) -> None:
    google = make_tenant(engine, name="G", domains=("g.test",), idp="google")
    response = api.post(
        f"{google.scim_base}/Groups", json=group_body("Nope"), headers=google.scim_headers
    )
    assert response.status_code == 501
    assert response.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert "users only" in response.json()["detail"]
