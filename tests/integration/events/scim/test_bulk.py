"""POST /Bulk: ordered operations, bulkId references, failOnErrors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.integration.events.ingest.dialects.replay import replay_fixture
from tests.support.workspace import TenantHandle, group_body, make_tenant, patch_body, user_body

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


# --- the IdP dialects apply inside /Bulk as they do on /Users and /Groups -------------------

IDP_FIXTURES = sorted((Path(__file__).resolve().parents[3] / "fixtures" / "idp").glob("*/*.json"))


@pytest.mark.parametrize("path", IDP_FIXTURES, ids=lambda p: f"{p.parent.name}-{p.stem}")
def test_each_idp_sequence_sent_through_bulk_reaches_the_same_workspace(
    api: Any, engine: Engine, path: Path
) -> None:
    """Every write of the IdP's recorded sequence goes as a /Bulk operation: each answers
    what the direct request answers (status, and the resource it leaves, read back), and
    the workspace ends as the fixture says. The dialects' quirks are all in there: Entra's
    one-item value lists, Okta's `groups` on a create, OneLogin's revival of a suspended
    user, Ping's DELETE-as-disable, JumpCloud's adoption of a group by name, Google's
    refusal of groups."""
    replay_fixture(api, engine, path, via_bulk=True)


def test_a_quirk_is_handled_alike_on_users_and_in_bulk(api: Any, engine: Engine) -> None:
    """Entra's default mode wraps a single value in `[{"value": ...}]`; its dialect unwraps
    it before the PATCH engine sees it, in a /Bulk operation as on /Users/{id}."""
    quirk = patch_body({"op": "Add", "path": "nickName", "value": [{"value": "Ada"}]})
    nicknames = []
    for via_bulk in (False, True):
        entra = make_tenant(engine, idp="entra", name=f"Entra {via_bulk}")
        base, headers = entra.scim_base, entra.scim_headers
        user = api.post(f"{base}/Users", json=user_body("ada@acme.test"), headers=headers).json()
        if via_bulk:
            operation = {"method": "PATCH", "path": f"/Users/{user['id']}", "data": quirk}
            bulk = {"schemas": [BULK], "Operations": [operation]}
            answer = api.post(f"{base}/Bulk", json=bulk, headers=headers).json()
            assert answer["Operations"][0]["status"] == "200", answer
        else:
            assert api.patch(f"{base}/Users/{user['id']}", json=quirk, headers=headers).is_success
        read = api.get(f"{base}/Users/{user['id']}", headers=headers).json()
        nicknames.append(read.get("nickName"))
    assert nicknames == ["Ada", "Ada"]
