"""What IdPs really send is accepted (any tenant, any dialect): the schema URNs they put on
requests, `meta` on input, capitalised PATCH ops, booleans as strings, extension
attributes this server does not know (kept in the mirror, returned on GET), and PATCH of
the whole Enterprise extension whose value carries its own `schemas`. Only what is truly
malformed is refused, with an error naming the field."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine

from tests.support.workspace import TenantHandle, make_tenant, patch_body, user_body

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTRA_GROUP = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"
CUSTOM = "urn:ietf:params:scim:schemas:extension:acme:2.0:User"


@pytest.fixture
def tenant(engine: Engine, service_env: Any) -> TenantHandle:
    return make_tenant(engine)


def test_entra_group_create_with_its_adscim_urn_and_meta(api: Any, tenant: TenantHandle) -> None:
    # The group-create request Microsoft documents for Entra ID provisioning.
    body = {
        "schemas": [GROUP, ENTRA_GROUP],
        "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
        "displayName": "displayName",
        "meta": {"resourceType": "Group"},
    }
    created = api.post(f"{tenant.scim_base}/Groups", json=body, headers=tenant.scim_headers)
    assert created.status_code == 201, created.text
    assert created.json()["displayName"] == "displayName"
    assert created.json()["meta"]["resourceType"] == "Group"


def test_unknown_extension_attributes_are_kept(api: Any, tenant: TenantHandle) -> None:
    body = user_body("ext@acme.test") | {
        "schemas": [USER, CUSTOM],
        CUSTOM: {"costCenterCode": "CC-7", "badge": {"number": 12}},
        "meta": {"resourceType": "User", "created": "2020-01-01T00:00:00Z"},
    }
    created = api.post(f"{tenant.scim_base}/Users", json=body, headers=tenant.scim_headers)
    assert created.status_code == 201, created.text
    got = api.get(
        f"{tenant.scim_base}/Users/{created.json()['id']}", headers=tenant.scim_headers
    ).json()
    assert got[CUSTOM] == {"costCenterCode": "CC-7", "badge": {"number": 12}}
    assert CUSTOM in got["schemas"]
    assert got["meta"]["created"] != "2020-01-01T00:00:00Z"  # meta is the server's


def test_string_booleans_on_create_and_patch(api: Any, tenant: TenantHandle) -> None:
    body = user_body("bool@acme.test") | {"active": "True"}
    body["emails"][0]["primary"] = "true"
    created = api.post(f"{tenant.scim_base}/Users", json=body, headers=tenant.scim_headers)
    assert created.status_code == 201, created.text
    assert created.json()["active"] is True
    assert created.json()["emails"][0]["primary"] is True
    patched = api.patch(
        f"{tenant.scim_base}/Users/{created.json()['id']}",
        json=patch_body({"op": "Replace", "path": "active", "value": "False"}),
        headers=tenant.scim_headers,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["active"] is False


@pytest.mark.parametrize("op", ["add", "replace", "Add", "Replace"])
def test_patch_of_the_whole_enterprise_extension_with_schemas(
    api: Any, tenant: TenantHandle, op: str
) -> None:
    created = api.post(
        f"{tenant.scim_base}/Users", json=user_body("ent@acme.test"), headers=tenant.scim_headers
    ).json()
    value = {"schemas": [ENTERPRISE], "employeeNumber": "701984", "department": "Tour"}
    for operation in (
        {"op": op, "path": ENTERPRISE, "value": value},
        {"op": op, "value": {ENTERPRISE: value}},
    ):
        patched = api.patch(
            f"{tenant.scim_base}/Users/{created['id']}",
            json=patch_body(operation),
            headers=tenant.scim_headers,
        )
        assert patched.status_code == 200, (operation, patched.text)
        extension = patched.json()[ENTERPRISE]
        assert extension["employeeNumber"] == "701984" and extension["department"] == "Tour"
        assert "schemas" not in extension


def test_malformed_values_are_refused_naming_the_field(api: Any, tenant: TenantHandle) -> None:
    body = user_body("bad@acme.test") | {"active": "perhaps"}
    response = api.post(f"{tenant.scim_base}/Users", json=body, headers=tenant.scim_headers)
    assert response.status_code == 400
    assert response.json()["scimType"] == "invalidValue"
    assert "active" in response.json()["detail"]
    wrong = user_body("bad@acme.test") | {"schemas": ["urn:example:not-a-user"]}
    response = api.post(f"{tenant.scim_base}/Users", json=wrong, headers=tenant.scim_headers)
    assert response.status_code == 400 and "schemas" in response.json()["detail"]
