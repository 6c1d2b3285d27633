"""SCIM /Users over HTTP through the app, on the configured SQL backend."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.workspace import TenantHandle, make_tenant, patch_body, user_body

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


@pytest.fixture
def tenant(engine: Any, service_env: Any) -> TenantHandle:
    return make_tenant(engine)


def create(api: Any, tenant: TenantHandle, user_name: str, **extra: Any) -> dict[str, Any]:
    response = api.post(
        f"{tenant.scim_base}/Users", json=user_body(user_name, **extra), headers=tenant.scim_headers
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_create_returns_201_with_id_meta_location_and_etag(api: Any, tenant: TenantHandle) -> None:
    response = api.post(
        f"{tenant.scim_base}/Users", json=user_body("ann@acme.test"), headers=tenant.scim_headers
    )
    assert response.status_code == 201
    assert response.headers["content-type"].startswith("application/scim+json")
    body = response.json()
    assert body["id"] and body["userName"] == "ann@acme.test"
    assert body["meta"]["resourceType"] == "User"
    assert body["meta"]["location"].endswith(f"/Users/{body['id']}")
    assert response.headers["Location"] == body["meta"]["location"]
    assert response.headers["ETag"] == body["meta"]["version"] == 'W/"1"'
    assert "password" not in body


def test_password_is_never_returned_or_stored(api: Any, tenant: TenantHandle, engine: Any) -> None:
    body = create(api, tenant, "pw@acme.test", password="S3cret!pass")
    fetched = api.get(f"{tenant.scim_base}/Users/{body['id']}", headers=tenant.scim_headers).json()
    assert "password" not in body and "password" not in fetched
    from sqlalchemy import text

    with engine.connect() as conn:
        dump = conn.execute(text("SELECT resource, has_password FROM mirror_users")).one()
    assert "S3cret" not in str(dump.resource) and dump.has_password


def test_enterprise_extension_round_trips(api: Any, tenant: TenantHandle) -> None:
    extension = {"department": "R&D", "employeeNumber": "42"}
    body = create(api, tenant, "ent@acme.test", **{ENTERPRISE: extension})
    assert ENTERPRISE in body["schemas"]
    fetched = api.get(f"{tenant.scim_base}/Users/{body['id']}", headers=tenant.scim_headers).json()
    assert fetched[ENTERPRISE]["department"] == "R&D"
    found = api.get(
        f"{tenant.scim_base}/Users",
        params={"filter": f'{ENTERPRISE}:department eq "R&D"'},
        headers=tenant.scim_headers,
    ).json()
    assert [r["id"] for r in found["Resources"]] == [body["id"]]


def test_duplicate_user_name_is_409_uniqueness_case_insensitive(
    api: Any, tenant: TenantHandle
) -> None:
    create(api, tenant, "dup@acme.test")
    response = api.post(
        f"{tenant.scim_base}/Users", json=user_body("DUP@acme.test"), headers=tenant.scim_headers
    )
    assert response.status_code == 409
    assert response.json()["scimType"] == "uniqueness"
    assert response.json()["status"] == "409"


def test_filter_lookup_before_create_returns_empty_list(api: Any, tenant: TenantHandle) -> None:
    response = api.get(
        f"{tenant.scim_base}/Users",
        params={"filter": 'userName eq "nobody@acme.test"'},
        headers=tenant.scim_headers,
    )
    assert response.status_code == 200
    assert response.json()["totalResults"] == 0 and response.json()["Resources"] == []


def test_pagination_is_stable_and_sorted(api: Any, tenant: TenantHandle) -> None:
    names = [f"user{i:02d}@acme.test" for i in range(12)]
    for name in reversed(names):
        create(api, tenant, name)
    seen: list[str] = []
    for start in (1, 6, 11):
        page = api.get(
            f"{tenant.scim_base}/Users",
            params={"startIndex": start, "count": 5, "sortBy": "userName"},
            headers=tenant.scim_headers,
        ).json()
        assert page["totalResults"] == 12 and page["startIndex"] == start
        seen += [r["userName"] for r in page["Resources"]]
    assert seen == names
    descending = api.get(
        f"{tenant.scim_base}/Users",
        params={"sortBy": "userName", "sortOrder": "descending", "count": 1},
        headers=tenant.scim_headers,
    ).json()
    assert descending["Resources"][0]["userName"] == names[-1]


def test_attributes_and_excluded_attributes(api: Any, tenant: TenantHandle) -> None:
    body = create(api, tenant, "attr@acme.test")
    only = api.get(
        f"{tenant.scim_base}/Users/{body['id']}",
        params={"attributes": "userName,name.givenName"},
        headers=tenant.scim_headers,
    ).json()
    assert set(only) == {"id", "schemas", "userName", "name"}
    assert only["name"] == {"givenName": "attr"}
    without = api.get(
        f"{tenant.scim_base}/Users/{body['id']}",
        params={"excludedAttributes": "emails,name"},
        headers=tenant.scim_headers,
    ).json()
    assert "emails" not in without and "name" not in without and without["userName"]


def test_put_replaces_and_bumps_version(api: Any, tenant: TenantHandle) -> None:
    body = create(api, tenant, "put@acme.test")
    replaced = api.put(
        f"{tenant.scim_base}/Users/{body['id']}",
        json=user_body("put@acme.test", displayName="Put Person"),
        headers=tenant.scim_headers,
    )
    assert replaced.status_code == 200
    assert replaced.json()["displayName"] == "Put Person"
    assert replaced.json()["meta"]["version"] == 'W/"2"'


def test_if_match_mismatch_is_412_and_changes_nothing(api: Any, tenant: TenantHandle) -> None:
    body = create(api, tenant, "etag@acme.test")
    stale = api.patch(
        f"{tenant.scim_base}/Users/{body['id']}",
        json=patch_body({"op": "replace", "path": "active", "value": False}),
        headers={**tenant.scim_headers, "If-Match": 'W/"7"'},
    )
    assert stale.status_code == 412
    current = api.get(f"{tenant.scim_base}/Users/{body['id']}", headers=tenant.scim_headers)
    assert current.json()["active"] is True
    fresh = api.patch(
        f"{tenant.scim_base}/Users/{body['id']}",
        json=patch_body({"op": "replace", "path": "active", "value": False}),
        headers={**tenant.scim_headers, "If-Match": current.headers["ETag"]},
    )
    assert fresh.status_code == 200 and fresh.json()["active"] is False


def test_if_none_match_returns_304(api: Any, tenant: TenantHandle) -> None:
    body = create(api, tenant, "cache@acme.test")
    response = api.get(
        f"{tenant.scim_base}/Users/{body['id']}",
        headers={**tenant.scim_headers, "If-None-Match": 'W/"1"'},
    )
    assert response.status_code == 304


def test_patch_value_filter_path(api: Any, tenant: TenantHandle) -> None:
    body = create(api, tenant, "vf@acme.test")
    response = api.patch(
        f"{tenant.scim_base}/Users/{body['id']}",
        json=patch_body(
            {"op": "replace", "path": 'emails[type eq "work"].value', "value": "vf2@acme.test"}
        ),
        headers=tenant.scim_headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["emails"][0]["value"] == "vf2@acme.test"
    found = api.get(
        f"{tenant.scim_base}/Users",
        params={"filter": 'emails[type eq "work"].value eq "vf2@acme.test"'},
        headers=tenant.scim_headers,
    ).json()
    assert found["totalResults"] == 1


def test_delete_then_get_is_404(api: Any, tenant: TenantHandle) -> None:
    body = create(api, tenant, "del@acme.test")
    assert (
        api.delete(
            f"{tenant.scim_base}/Users/{body['id']}", headers=tenant.scim_headers
        ).status_code
        == 204
    )
    gone = api.get(f"{tenant.scim_base}/Users/{body['id']}", headers=tenant.scim_headers)
    assert gone.status_code == 404 and gone.json()["status"] == "404"


def test_search_endpoints(api: Any, tenant: TenantHandle) -> None:
    create(api, tenant, "s1@acme.test")
    create(api, tenant, "s2@acme.test")
    search = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "filter": 'userName sw "s1"',
        "count": 10,
    }
    users = api.post(f"{tenant.scim_base}/Users/.search", json=search, headers=tenant.scim_headers)
    assert users.status_code == 200 and users.json()["totalResults"] == 1
    everything = api.post(
        f"{tenant.scim_base}/.search",
        json={"schemas": search["schemas"], "count": 10},
        headers=tenant.scim_headers,
    )
    assert everything.status_code == 200 and everything.json()["totalResults"] == 2


def test_count_is_capped(api: Any, tenant: TenantHandle) -> None:
    create(api, tenant, "cap@acme.test")
    response = api.get(
        f"{tenant.scim_base}/Users", params={"count": 10**9}, headers=tenant.scim_headers
    )
    assert response.status_code == 200 and response.json()["itemsPerPage"] == 1
