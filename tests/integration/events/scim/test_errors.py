"""Every class of bad input: a SCIM Error body, the right status, nothing changed."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from storage.schema import change_events, mirror_users
from tests.support.workspace import TenantHandle, make_tenant, patch_body, user_body


@pytest.fixture
def tenant(engine: Any, service_env: Any) -> TenantHandle:
    return make_tenant(engine)


def counts(engine: Any) -> tuple[int, int]:
    with engine.connect() as conn:
        users = conn.execute(select(func.count()).select_from(mirror_users)).scalar_one()
        events = conn.execute(select(func.count()).select_from(change_events)).scalar_one()
    return users, events


def assert_scim_error(response: Any, status: int, scim_type: str | None = None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert body["status"] == str(status)
    if scim_type:
        assert body["scimType"] == scim_type
    text = response.text
    assert "Traceback" not in text and "sqlalchemy" not in text.lower() and "/work/" not in text


def test_malformed_json_is_invalid_syntax(api: Any, tenant: TenantHandle, engine: Any) -> None:
    before = counts(engine)
    response = api.post(
        f"{tenant.scim_base}/Users", content=b'{"userName": ', headers=tenant.scim_headers
    )
    assert_scim_error(response, 400, "invalidSyntax")
    assert counts(engine) == before


def test_schema_violation_is_invalid_value(api: Any, tenant: TenantHandle, engine: Any) -> None:
    before = counts(engine)
    response = api.post(
        f"{tenant.scim_base}/Users",
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "active": "maybe",
            "userName": "x@acme.test",
        },
        headers=tenant.scim_headers,
    )
    assert_scim_error(response, 400, "invalidValue")
    missing = api.post(
        f"{tenant.scim_base}/Users",
        json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"]},
        headers=tenant.scim_headers,
    )
    assert_scim_error(missing, 400, "invalidValue")
    assert counts(engine) == before


@pytest.mark.parametrize(
    "bad_filter",
    ["userName eq", 'userName zz "x"', '(userName eq "a"', 'nosuchattr eq "x"', "active gt true"],
)
def test_bad_filter_is_invalid_filter(api: Any, tenant: TenantHandle, bad_filter: str) -> None:
    response = api.get(
        f"{tenant.scim_base}/Users", params={"filter": bad_filter}, headers=tenant.scim_headers
    )
    assert_scim_error(response, 400, "invalidFilter")


def test_bad_patch_path_is_invalid_path(api: Any, tenant: TenantHandle, engine: Any) -> None:
    user = api.post(
        f"{tenant.scim_base}/Users", json=user_body("p@acme.test"), headers=tenant.scim_headers
    ).json()
    before = counts(engine)
    response = api.patch(
        f"{tenant.scim_base}/Users/{user['id']}",
        json=patch_body({"op": "replace", "path": "emails[type eq", "value": 1}),
        headers=tenant.scim_headers,
    )
    assert_scim_error(response, 400, "invalidPath")
    assert counts(engine) == before


def test_body_over_one_mebibyte_is_413(api: Any, tenant: TenantHandle, engine: Any) -> None:
    before = counts(engine)
    huge = user_body("big@acme.test", displayName="x" * (1024 * 1024 + 10))
    response = api.post(f"{tenant.scim_base}/Users", json=huge, headers=tenant.scim_headers)
    assert_scim_error(response, 413)
    assert counts(engine) == before


def test_unknown_route_is_404_scim_error(api: Any, tenant: TenantHandle) -> None:
    response = api.get(f"{tenant.scim_base}/Widgets", headers=tenant.scim_headers)
    assert_scim_error(response, 404)


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic abc"])
def test_wrong_or_missing_token_is_401(api: Any, tenant: TenantHandle, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = api.get(f"{tenant.scim_base}/Users", headers=headers)
    assert_scim_error(response, 401)


def test_unknown_tenant_is_401(api: Any, tenant: TenantHandle) -> None:
    response = api.get(
        "/scim/v2/00000000-0000-0000-0000-000000000000/Users", headers=tenant.scim_headers
    )
    assert_scim_error(response, 401)


def test_token_of_another_tenant_is_401(api: Any, tenant: TenantHandle, engine: Any) -> None:
    other = make_tenant(engine, name="Other", domains=("other.test",))
    response = api.get(f"{tenant.scim_base}/Users", headers=other.scim_headers)
    assert_scim_error(response, 401)


def test_plain_application_json_is_accepted(api: Any, tenant: TenantHandle) -> None:
    response = api.post(
        f"{tenant.scim_base}/Users",
        json=user_body("json@acme.test"),
        headers={**tenant.scim_headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 201


def test_discovery_endpoints_refuse_writes(api: Any, tenant: TenantHandle) -> None:
    for path in ("ServiceProviderConfig", "ResourceTypes", "Schemas", "Schemas/x"):
        response = api.post(f"{tenant.scim_base}/{path}", json={}, headers=tenant.scim_headers)
        assert_scim_error(response, 405)


def test_discovery_documents(api: Any, tenant: TenantHandle) -> None:
    spc = api.get(f"{tenant.scim_base}/ServiceProviderConfig", headers=tenant.scim_headers).json()
    assert spc["patch"]["supported"] and spc["bulk"]["supported"] and spc["etag"]["supported"]
    assert spc["filter"]["maxResults"] >= 100
    types = api.get(f"{tenant.scim_base}/ResourceTypes", headers=tenant.scim_headers).json()
    assert {r["id"] for r in types["Resources"]} == {"User", "Group"}
    user_schema = api.get(
        f"{tenant.scim_base}/Schemas/urn:ietf:params:scim:schemas:core:2.0:User",
        headers=tenant.scim_headers,
    )
    assert user_schema.status_code == 200
    assert any(a["name"] == "userName" for a in user_schema.json()["attributes"])


def test_value_too_long_for_storage_is_invalid_value(
    api: Any, tenant: TenantHandle, engine: Any
) -> None:
    before = counts(engine)
    body = user_body("long@acme.test")
    body["emails"][0]["type"] = "t" * 500
    response = api.post(f"{tenant.scim_base}/Users", json=body, headers=tenant.scim_headers)
    if response.status_code != 201:  # SQLite stores any length; PostgreSQL refuses
        assert_scim_error(response, 400, "invalidValue")
        assert counts(engine) == before
