"""IdPs retry a create whose answer they did not see (a timeout, a 5xx, a dropped
connection). A repeated create, or a rename onto a name that is taken, answers 409
`uniqueness` and never makes a second resource: the workspace can never hold two SCIM
groups for one IdP group."""

from __future__ import annotations

import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import Engine, func, select

from storage.schema import mirror_groups, mirror_users
from tests.support.workspace import TenantHandle, group_body, make_tenant, patch_body, user_body

BULK_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"


@pytest.fixture
def tenant(engine: Engine, service_env: Any) -> TenantHandle:
    return make_tenant(engine)


def _count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _assert_uniqueness(response: Any, attribute: str) -> None:
    assert response.status_code == 409, response.text
    body = response.json()
    assert body["status"] == "409" and body["scimType"] == "uniqueness"
    assert attribute in body["detail"]


def test_same_group_created_twice_is_409_and_one_group(
    api: Any, tenant: TenantHandle, engine: Engine
) -> None:
    base, headers = tenant.scim_base, tenant.scim_headers
    first = api.post(f"{base}/Groups", json=group_body("Team"), headers=headers)
    assert first.status_code == 201, first.text
    _assert_uniqueness(
        api.post(f"{base}/Groups", json=group_body("Team"), headers=headers), "displayName"
    )
    _assert_uniqueness(
        api.post(f"{base}/Groups", json=group_body("TEAM"), headers=headers), "displayName"
    )
    assert _count(engine, mirror_groups) == 1
    listed = api.get(f"{base}/Groups", params={"filter": 'displayName eq "Team"'}, headers=headers)
    assert [g["id"] for g in listed.json()["Resources"]] == [first.json()["id"]]


def test_same_group_external_id_is_409(api: Any, tenant: TenantHandle, engine: Engine) -> None:
    base, headers = tenant.scim_base, tenant.scim_headers
    body = group_body("Team") | {"externalId": "00g1"}
    assert api.post(f"{base}/Groups", json=body, headers=headers).status_code == 201
    renamed = group_body("Team renamed meanwhile") | {"externalId": "00g1"}
    _assert_uniqueness(api.post(f"{base}/Groups", json=renamed, headers=headers), "externalId")
    assert _count(engine, mirror_groups) == 1


def test_rename_onto_a_taken_name_is_409_by_put_patch_and_bulk(
    api: Any, tenant: TenantHandle, engine: Engine
) -> None:
    base, headers = tenant.scim_base, tenant.scim_headers
    api.post(f"{base}/Groups", json=group_body("Sales"), headers=headers)
    other = api.post(f"{base}/Groups", json=group_body("Support"), headers=headers).json()
    url = f"{base}/Groups/{other['id']}"
    _assert_uniqueness(api.put(url, json=group_body("sales"), headers=headers), "displayName")
    path_patch = patch_body({"op": "replace", "path": "displayName", "value": "Sales"})
    _assert_uniqueness(api.patch(url, json=path_patch, headers=headers), "displayName")
    no_path = patch_body({"op": "Replace", "value": {"displayName": "Sales"}})
    _assert_uniqueness(api.patch(url, json=no_path, headers=headers), "displayName")
    bulk = api.post(
        f"{base}/Bulk",
        headers=headers,
        json={
            "schemas": [BULK_SCHEMA],
            "Operations": [
                {"method": "POST", "path": "/Groups", "bulkId": "g", "data": group_body("Sales")},
                {"method": "PUT", "path": f"/Groups/{other['id']}", "data": group_body("Sales")},
            ],
        },
    )
    assert bulk.status_code == 200, bulk.text
    statuses = [op["status"] for op in bulk.json()["Operations"]]
    assert statuses == ["409", "409"]
    assert all(op["response"]["scimType"] == "uniqueness" for op in bulk.json()["Operations"])
    assert api.get(url, headers=headers).json()["displayName"] == "Support"
    assert _count(engine, mirror_groups) == 2


def test_user_external_id_is_unique_like_user_name(
    api: Any, tenant: TenantHandle, engine: Engine
) -> None:
    base, headers = tenant.scim_base, tenant.scim_headers
    first = user_body("ada@acme.test", externalId="00u1")
    assert api.post(f"{base}/Users", json=first, headers=headers).status_code == 201
    again = user_body("ada.lovelace@acme.test", externalId="00u1")
    _assert_uniqueness(api.post(f"{base}/Users", json=again, headers=headers), "externalId")
    other = api.post(f"{base}/Users", json=user_body("bob@acme.test"), headers=headers).json()
    moved = user_body("bob@acme.test", externalId="00u1")
    _assert_uniqueness(
        api.put(f"{base}/Users/{other['id']}", json=moved, headers=headers), "externalId"
    )
    assert _count(engine, mirror_users) == 2


def test_concurrent_duplicate_creates_make_one_group(
    live_server: str, tenant: TenantHandle, engine: Engine
) -> None:
    with httpx.Client(base_url=live_server, headers=tenant.scim_headers, timeout=30) as client:

        def create(_: int) -> int:
            return client.post(f"{tenant.scim_base}/Groups", json=group_body("Race")).status_code

        with ThreadPoolExecutor(max_workers=6) as pool:
            statuses = sorted(pool.map(create, range(6)))
    assert statuses == [201, 409, 409, 409, 409, 409]
    assert _count(engine, mirror_groups) == 1


def test_create_retried_after_the_connection_died_before_the_answer(
    live_server: str, tenant: TenantHandle, engine: Engine
) -> None:
    """The IdP's connection is cut after the request was sent, before any answer: it cannot
    know whether the group exists, so it sends the create again."""
    url = urlsplit(live_server)
    body = json.dumps(group_body("Lost answer")).encode()
    request = (
        f"POST {tenant.scim_base}/Groups HTTP/1.1\r\nHost: {url.netloc}\r\n"
        f"Authorization: {tenant.scim_headers['Authorization']}\r\n"
        f"Content-Type: application/scim+json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    with socket.create_connection((url.hostname, url.port)) as sock:
        sock.sendall(request)
        # The server commits; the IdP gives up before reading a byte of the answer.
        deadline = time.monotonic() + 10
        while _count(engine, mirror_groups) == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        sock.shutdown(socket.SHUT_RDWR)
    assert _count(engine, mirror_groups) == 1
    with httpx.Client(base_url=live_server, headers=tenant.scim_headers, timeout=30) as client:
        for _ in range(2):
            retry = client.post(f"{tenant.scim_base}/Groups", json=group_body("Lost answer"))
            _assert_uniqueness(retry, "displayName")
        found = client.get(
            f"{tenant.scim_base}/Groups", params={"filter": 'displayName eq "Lost answer"'}
        ).json()
    assert found["totalResults"] == 1
    assert _count(engine, mirror_groups) == 1
