"""POST /Bulk: ordered operations, bulkId references, failOnErrors."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.workspace import TenantHandle, group_body, make_tenant, user_body

BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"


@pytest.fixture
def tenant(engine: Any, service_env: Any) -> TenantHandle:
    return make_tenant(engine)


def test_bulk_with_bulk_id_reference(api: Any, tenant: TenantHandle) -> None:
    body = {
        "schemas": [BULK],
        "Operations": [
            {"method": "POST", "path": "/Users", "bulkId": "u1", "data": user_body("b1@acme.test")},
            {
                "method": "POST",
                "path": "/Groups",
                "bulkId": "g1",
                "data": group_body("Bulkers", ["bulkId:u1"]),
            },
        ],
    }
    response = api.post(f"{tenant.scim_base}/Bulk", json=body, headers=tenant.scim_headers)
    assert response.status_code == 200, response.text
    ops = response.json()["Operations"]
    assert [o["status"] for o in ops] == ["201", "201"]
    group_location = ops[1]["location"]
    group_id = group_location.rsplit("/", 1)[1]
    user_id = ops[0]["location"].rsplit("/", 1)[1]
    group = api.get(f"{tenant.scim_base}/Groups/{group_id}", headers=tenant.scim_headers).json()
    assert [m["value"] for m in group["members"]] == [user_id]


def test_fail_on_errors_stops_processing(api: Any, tenant: TenantHandle) -> None:
    body = {
        "schemas": [BULK],
        "failOnErrors": 1,
        "Operations": [
            {"method": "POST", "path": "/Users", "bulkId": "a", "data": {"userName": ""}},
            {"method": "POST", "path": "/Users", "bulkId": "b", "data": user_body("b2@acme.test")},
        ],
    }
    response = api.post(f"{tenant.scim_base}/Bulk", json=body, headers=tenant.scim_headers)
    ops = response.json()["Operations"]
    assert len(ops) == 1 and ops[0]["status"] == "400"
    assert ops[0]["response"]["scimType"] == "invalidValue"
    listed = api.get(f"{tenant.scim_base}/Users", headers=tenant.scim_headers).json()
    assert listed["totalResults"] == 0


def test_failed_operation_leaves_no_trace_others_commit(api: Any, tenant: TenantHandle) -> None:
    body = {
        "schemas": [BULK],
        "Operations": [
            {"method": "POST", "path": "/Users", "data": user_body("ok@acme.test")},
            {"method": "POST", "path": "/Users", "data": user_body("ok@acme.test")},
            {"method": "DELETE", "path": "/Users/does-not-exist"},
        ],
    }
    ops = api.post(f"{tenant.scim_base}/Bulk", json=body, headers=tenant.scim_headers).json()[
        "Operations"
    ]
    assert [o["status"] for o in ops] == ["201", "409", "404"]
    listed = api.get(f"{tenant.scim_base}/Users", headers=tenant.scim_headers).json()
    assert listed["totalResults"] == 1


def test_bulk_over_operation_limit_is_413(
    api: Any, tenant: TenantHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    from worker.settings import get_settings

    monkeypatch.setattr(get_settings(), "max_bulk_operations", 2)
    body = {
        "schemas": [BULK],
        "Operations": [
            {"method": "POST", "path": "/Users", "data": user_body(f"l{i}@acme.test")}
            for i in range(3)
        ],
    }
    response = api.post(f"{tenant.scim_base}/Bulk", json=body, headers=tenant.scim_headers)
    assert response.status_code == 413
