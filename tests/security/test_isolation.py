"""Tenant isolation: a credential of tenant A never reaches tenant B, and B's ids are
invisible through A's URLs (as if they did not exist, never as "forbidden")."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.routing import APIRoute
from sqlalchemy import Engine, select

from events.app import create_app
from storage.schema import mirror_groups, mirror_users
from tests.security.conftest import assert_scim_error, row_counts
from tests.support.workspace import (
    TenantHandle,
    group_body,
    issue_webhook_secret,
    patch_body,
    user_body,
)

BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"


@dataclass
class Seeded:
    handle: TenantHandle
    user_id: str
    group_id: str


def seed(api: Any, tenant: TenantHandle, domain: str) -> Seeded:
    user = api.post(
        f"{tenant.scim_base}/Users", json=user_body(f"same@{domain}"), headers=tenant.scim_headers
    )
    assert user.status_code == 201, user.text
    group = api.post(
        f"{tenant.scim_base}/Groups",
        json=group_body("Engineering", [user.json()["id"]]),
        headers=tenant.scim_headers,
    )
    assert group.status_code == 201, group.text
    return Seeded(tenant, user.json()["id"], group.json()["id"])


@pytest.fixture
def a(api: Any, tenant: TenantHandle) -> Seeded:
    return seed(api, tenant, "acme.test")


@pytest.fixture
def b(api: Any, other: TenantHandle) -> Seeded:
    return seed(api, other, "globex.test")


def versions(engine: Engine, tenant_id: str) -> dict[str, int]:
    with engine.connect() as conn:
        rows = [
            *conn.execute(
                select(mirror_users.c.id, mirror_users.c.version).where(
                    mirror_users.c.tenant_id == tenant_id
                )
            ),
            *conn.execute(
                select(mirror_groups.c.id, mirror_groups.c.version).where(
                    mirror_groups.c.tenant_id == tenant_id
                )
            ),
        ]
    return {r.id: r.version for r in rows}


# --- credentials of A on B's URLs: every tenant-scoped route answers 401 --------------------


def _all_routes() -> list[Any]:
    """Every route of the app, through FastAPI's included-router wrappers."""
    found: list[Any] = []
    for route in create_app().routes:
        inner = getattr(route, "original_router", None)
        found += list(inner.routes) if inner is not None else [route]
    return found


def _tenant_routes() -> list[tuple[str, str]]:
    routes = []
    for route in _all_routes():
        if not isinstance(route, APIRoute) or "{tenant_id}" not in route.path:
            continue
        if not route.path.startswith(("/scim/", "/api/")):
            continue  # webhooks authenticate by signature: see the webhook test below
        routes += [(method, route.path) for method in sorted(route.methods or ())]
    return routes


TENANT_ROUTES = _tenant_routes()


def test_the_route_sweep_covers_scim_and_admin() -> None:
    paths = {p for _, p in TENANT_ROUTES}
    assert "/scim/v2/{tenant_id}/Users/{resource_id}" in paths
    assert "/scim/v2/{tenant_id}/Bulk" in paths
    assert any(p.startswith("/api/v1/workspaces/{tenant_id}/") for p in paths)


def test_a_token_of_a_on_b_urls_is_401(api: Any, engine: Engine, a: Seeded, b: Seeded) -> None:
    """Every SCIM and admin route, with each of A's bearer tokens, on B's tenant id."""
    ids = {
        "tenant_id": b.handle.id,
        "resource_id": b.user_id,
        "group_id": b.group_id,
        "member_id": b.user_id,
        "name": "User",
        "schema_id": "x",
        "item_id": "x",
    }
    before, wrong = row_counts(engine), []
    for method, path in TENANT_ROUTES:
        url = re.sub(r"{(\w+)}", lambda m: ids.get(m.group(1), "x"), path)
        for token in (a.handle.scim_token, a.handle.admin_token):
            response = api.request(
                method,
                url,
                headers={"Authorization": f"Bearer {token}"},
                json={} if method in ("POST", "PUT", "PATCH") else None,
            )
            if response.status_code != 401:
                wrong.append((method, url, response.status_code))
            elif path.startswith("/scim/"):
                assert_scim_error(response, 401)
    assert wrong == []
    assert row_counts(engine) == before


def test_a_webhook_secret_of_a_does_not_sign_for_b(
    api: Any, engine: Engine, a: Seeded, b: Seeded
) -> None:
    import time

    from events.hooks.routes import signature_header
    from storage.db import unit_of_work

    with unit_of_work(engine) as conn:
        secret = issue_webhook_secret(conn, a.handle.id)
    body = b'{"id": "x1", "type": "user.deleted", "data": {"userName": "same@globex.test"}}'
    header = signature_header(secret, int(time.time()), body)
    before = row_counts(engine)
    pushed = api.post(
        f"/hooks/v1/{b.handle.id}/events", content=body, headers={"X-Scimsync-Signature": header}
    )
    assert pushed.status_code == 401
    okta = api.post(
        f"/hooks/v1/{b.handle.id}/okta",
        json={"data": {"events": []}},
        headers={"Authorization": secret},
    )
    assert okta.status_code == 401
    assert row_counts(engine) == before


# --- B's ids through A's own URLs ------------------------------------------------------------


def test_b_ids_are_not_found_through_a(api: Any, engine: Engine, a: Seeded, b: Seeded) -> None:
    base, headers = a.handle.scim_base, a.handle.scim_headers
    b_before = versions(engine, b.handle.id)
    for kind, b_id in (("Users", b.user_id), ("Groups", b.group_id)):
        assert_scim_error(api.get(f"{base}/{kind}/{b_id}", headers=headers), 404)
        assert_scim_error(api.delete(f"{base}/{kind}/{b_id}", headers=headers), 404)
        patched = api.patch(
            f"{base}/{kind}/{b_id}",
            headers=headers,
            json=patch_body({"op": "replace", "path": "displayName", "value": "Hijacked"}),
        )
        assert_scim_error(patched, 404)
    replaced = api.put(
        f"{base}/Users/{b.user_id}", json=user_body("same@globex.test"), headers=headers
    )
    assert_scim_error(replaced, 404)
    assert versions(engine, b.handle.id) == b_before


@pytest.mark.parametrize(
    "template",
    [
        'id eq "{user}"',
        'id eq "{group}"',
        'userName eq "same@globex.test"',
        'emails.value co "globex"',
        'groups.value eq "{group}"',
        'members.value eq "{user}"',
        'displayName eq "Engineering" and id eq "{group}"',
    ],
)
def test_filters_never_return_b_resources(api: Any, a: Seeded, b: Seeded, template: str) -> None:
    text = template.format(user=b.user_id, group=b.group_id)
    kinds = ("Groups",) if text.startswith(("members", "displayName")) else ("Users", "Groups")
    for kind in kinds:
        if kind == "Groups" and text.startswith(("userName", "emails", "groups")):
            continue
        listed = api.get(
            f"{a.handle.scim_base}/{kind}", params={"filter": text}, headers=a.handle.scim_headers
        )
        assert listed.status_code == 200, listed.text
        assert listed.json()["totalResults"] == 0, (kind, text)
    searched = api.post(
        f"{a.handle.scim_base}/.search",
        headers=a.handle.scim_headers,
        json={"filter": f'id eq "{b.user_id}" or id eq "{b.group_id}"'},
    )
    assert searched.json()["totalResults"] == 0


def test_listings_hold_only_a_resources(api: Any, a: Seeded, b: Seeded) -> None:
    for kind, mine in (("Users", a.user_id), ("Groups", a.group_id)):
        listed = api.get(f"{a.handle.scim_base}/{kind}", headers=a.handle.scim_headers).json()
        assert [r["id"] for r in listed["Resources"]] == [mine]
    group = api.get(
        f"{a.handle.scim_base}/Groups/{a.group_id}", headers=a.handle.scim_headers
    ).json()
    assert [m["value"] for m in group["members"]] == [a.user_id]


def test_bulk_operations_on_b_ids_fail_one_by_one(
    api: Any, engine: Engine, a: Seeded, b: Seeded
) -> None:
    b_before = versions(engine, b.handle.id)
    operations = [
        {
            "method": "PATCH",
            "path": f"/Users/{b.user_id}",
            "data": patch_body({"op": "replace", "path": "active", "value": False}),
        },
        {"method": "DELETE", "path": f"/Groups/{b.group_id}"},
        {"method": "PUT", "path": f"/Users/{b.user_id}", "data": user_body("same@globex.test")},
        {"method": "POST", "path": "/Users", "bulkId": "ok", "data": user_body("new@acme.test")},
    ]
    response = api.post(
        f"{a.handle.scim_base}/Bulk",
        headers=a.handle.scim_headers,
        json={"schemas": [BULK], "Operations": operations},
    )
    assert response.status_code == 200, response.text
    statuses = [op["status"] for op in response.json()["Operations"]]
    assert statuses == ["404", "404", "404", "201"]
    assert versions(engine, b.handle.id) == b_before


def test_group_members_pointing_at_b_users_are_refused(
    api: Any, engine: Engine, a: Seeded, b: Seeded
) -> None:
    base, headers = a.handle.scim_base, a.handle.scim_headers
    before = row_counts(engine)
    created = api.post(f"{base}/Groups", json=group_body("Spies", [b.user_id]), headers=headers)
    assert_scim_error(created, 400)
    replaced = api.put(
        f"{base}/Groups/{a.group_id}",
        json=group_body("Engineering", [a.user_id, b.user_id]),
        headers=headers,
    )
    assert_scim_error(replaced, 400)
    patched = api.patch(
        f"{base}/Groups/{a.group_id}",
        headers=headers,
        json=patch_body({"op": "add", "path": "members", "value": [{"value": b.user_id}]}),
    )
    assert_scim_error(patched, 400)
    nested = api.patch(
        f"{base}/Groups/{a.group_id}",
        headers=headers,
        json=patch_body({"op": "add", "path": "members", "value": [{"value": b.group_id}]}),
    )
    assert_scim_error(nested, 400)
    assert row_counts(engine) == before
    for message in (created, replaced, patched):
        assert "same@globex.test" not in message.text  # no detail about B's user


def test_the_same_user_name_lives_in_both_tenants(api: Any, a: Seeded, b: Seeded) -> None:
    """Uniqueness is per tenant: A creating a name B uses neither fails nor reveals B."""
    mine = api.get(
        f"{a.handle.scim_base}/Users",
        params={"filter": 'userName eq "same@acme.test"'},
        headers=a.handle.scim_headers,
    ).json()
    assert mine["totalResults"] == 1
    again = api.post(
        f"{a.handle.scim_base}/Users",
        json=user_body("same@globex.test"),
        headers=a.handle.scim_headers,
    )
    assert again.status_code == 201, again.text
