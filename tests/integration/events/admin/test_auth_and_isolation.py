"""Who may call the admin API: the tenant's own admin token, and only on its own data."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine

from storage import tenants
from storage.db import unit_of_work
from tests.integration.events.admin.support import AdminApi
from tests.support.workspace import TenantHandle, make_tenant

MEMBER, GROUP = "{member}", "{group}"
PASSWORD = {"password": "correct horse battery"}

# Every admin route, with a body that would be valid.
ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "/members", None),
    ("GET", f"/members/{MEMBER}", None),
    ("POST", "/members", {"email": "new@partner.test"}),
    ("POST", f"/members/{MEMBER}/accept-invitation", PASSWORD),
    ("DELETE", f"/members/{MEMBER}", None),
    ("GET", "/groups", None),
    ("POST", "/groups", {"name": "New"}),
    ("PATCH", f"/groups/{GROUP}", {"name": "Renamed"}),
    ("DELETE", f"/groups/{GROUP}", None),
    ("PUT", f"/groups/{GROUP}/members/{MEMBER}", None),
    ("DELETE", f"/groups/{GROUP}/members/{MEMBER}", None),
    ("PUT", f"/groups/{GROUP}/permissions", [{"path": "/x", "access": "admin"}]),
    ("GET", "/billing", None),
    ("PUT", "/sso", {"domains": ["evil.test"]}),
    ("DELETE", "/sso", None),
    ("POST", "/scim", None),
    ("DELETE", "/scim", None),
    ("GET", "/access?email=owner@acme.test", None),
    ("GET", "/audit", None),
]
ROUTE_IDS = [f"{method} {path}" for method, path, _ in ROUTES]


@pytest.fixture
def other(api: Any, engine: Engine) -> AdminApi:
    """Tenant B, with a pending member in a native group."""
    b = AdminApi(
        api, make_tenant(engine, name="Beta", domains=("beta.test",), owner_email="owner@beta.test")
    )
    guest = b.invite("guest@partner.test")
    group = b.native_group("Design")
    b.ok("PUT", f"/groups/{group['id']}/members/{guest['id']}", 204)
    return b


def _fill(path: str, b: AdminApi) -> str:
    guest = b.member("guest@partner.test")
    return path.replace(MEMBER, guest["id"]).replace(GROUP, b.group("Design")["id"])


@pytest.mark.parametrize(("method", "path", "body"), ROUTES, ids=ROUTE_IDS)
def test_another_tenants_admin_token_gets_401(
    admin: AdminApi, other: AdminApi, method: str, path: str, body: Any
) -> None:
    response = other.call(
        method, _fill(path, other), json=body, headers=admin.tenant.admin_headers
    )  # A's token on B's URL
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("method", "path", "body"), ROUTES, ids=ROUTE_IDS)
def test_a_missing_or_wrong_token_gets_401(
    admin: AdminApi, tenant: TenantHandle, method: str, path: str, body: Any
) -> None:
    filled = path.replace(MEMBER, "m").replace(GROUP, "g")
    for headers in (
        {"Authorization": ""},
        {"Authorization": "Bearer adm_wrong"},
        {"Authorization": f"Basic {tenant.admin_token}"},
        {"Authorization": f"Bearer {tenant.scim_token}"},
    ):  # a token of another kind
        response = admin.call(method, filled, json=body, headers=headers)
        assert response.status_code == 401, headers


def test_an_unknown_tenant_gets_401(api: Any, tenant: TenantHandle) -> None:
    response = api.get("/api/v1/workspaces/no-such-tenant/members", headers=tenant.admin_headers)
    assert response.status_code == 401


def test_a_revoked_admin_token_gets_401(admin: AdminApi, engine: Engine) -> None:
    with unit_of_work(engine) as conn:
        tenants.revoke_tokens(conn, admin.tenant.id, "admin")
    assert admin.get("/members").status_code == 401


def test_another_tenants_ids_are_not_found_through_my_url(admin: AdminApi, other: AdminApi) -> None:
    scoped = [(m, p, b) for m, p, b in ROUTES if MEMBER in p or GROUP in p]
    for method, path, body in scoped:
        response = admin.call(method, _fill(path, other), json=body)
        assert response.status_code == 404, (method, path, response.text)
    # B is untouched
    guest = other.member("guest@partner.test")
    assert (guest["status"], [g["name"] for g in guest["groups"]]) == ("pending", ["Design"])
    assert other.group("Design")["permissions"] == []


def test_another_tenants_data_never_shows(admin: AdminApi, other: AdminApi) -> None:
    assert [m["email"] for m in admin.ok("GET", "/members")["members"]] == ["owner@acme.test"]
    assert admin.ok("GET", "/groups") == {"groups": []}
    assert admin.access("guest@partner.test")["reason"] == "not_a_member"
    assert admin.billed() == 1
    assert all(
        e["target"] != f"member:{other.member('guest@partner.test')['id']}"
        for e in admin.ok("GET", "/audit")["entries"]
    )
