"""Issue 16 item 8: the browser pages (operator dashboard, workspace admin pages,
invitation page) cannot be framed or sniffed and leak no Referer; their cookies are
Secure behind a TLS proxy; logging out ends the session on the server; and login
attempts are throttled per client address."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from events.app import create_app
from events.web_security import LOGIN_ATTEMPTS, SECURITY_HEADERS
from tests.support.workspace import TenantHandle

OPERATOR = "op-test-token"  # service_env's


def test_every_answer_carries_the_security_headers(api: Any, tenant: TenantHandle) -> None:
    answers = [
        api.get("/dashboard", headers={"Authorization": f"Bearer {OPERATOR}"}),
        api.get("/dashboard"),  # the login form
        api.get(f"/workspaces/{tenant.id}/members", headers=tenant.admin_headers),
        api.get("/invitations/no-such-token"),
        api.get(f"{tenant.scim_base}/Users", headers=tenant.scim_headers),
        api.get("/no/such/route"),
    ]
    for answer in answers:
        for name, value in SECURITY_HEADERS.items():
            assert answer.headers.get(name) == value, (answer.request.url, name)


def dashboard_login(client: Any, token: str = OPERATOR) -> Any:
    return client.post(
        "/dashboard/login",
        content=f"token={token}",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )


def admin_login(client: Any, tenant: TenantHandle, token: str) -> Any:
    return client.post(
        f"/workspaces/{tenant.id}/login",
        content=f"token={token}",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )


def test_cookies_are_secure_behind_a_tls_proxy(
    api: Any, tenant: TenantHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "secure" not in dashboard_login(api).headers["set-cookie"].lower()  # plain http
    monkeypatch.setenv("SCIMSYNC_PUBLIC_BASE_URL", "https://scim.example.test")
    from worker.settings import get_settings

    get_settings.cache_clear()
    with TestClient(create_app(), raise_server_exceptions=False) as proxied:
        operator = dashboard_login(proxied)
        admin = admin_login(proxied, tenant, tenant.admin_token)
    for answer in (operator, admin):
        assert answer.status_code == 303, answer.text
        cookie = answer.headers["set-cookie"].lower()
        assert "; secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie


def test_logging_out_ends_the_session_on_the_server(api: Any) -> None:
    cookie = dashboard_login(api).cookies["scimsync_dashboard"]
    copy = {"Cookie": f"scimsync_dashboard={cookie}"}
    api.cookies.clear()
    assert api.get("/dashboard/api/summary", headers=copy).status_code == 200
    api.post("/dashboard/logout", headers=copy, follow_redirects=False)
    api.cookies.clear()
    assert api.get("/dashboard/api/summary", headers=copy).status_code == 401  # a stolen copy
    fresh = dashboard_login(api).cookies["scimsync_dashboard"]
    api.cookies.clear()
    again = {"Cookie": f"scimsync_dashboard={fresh}"}
    assert api.get("/dashboard/api/summary", headers=again).status_code == 200


def test_logging_out_of_the_workspace_pages_ends_the_session_on_the_server(
    api: Any, tenant: TenantHandle
) -> None:
    members = f"/workspaces/{tenant.id}/members"
    cookie = admin_login(api, tenant, tenant.admin_token).cookies["scimsync_admin"]
    copy = {"Cookie": f"scimsync_admin={cookie}"}
    api.cookies.clear()
    assert api.get(members, headers=copy).status_code == 200
    api.post(f"/workspaces/{tenant.id}/logout", headers=copy, follow_redirects=False)
    api.cookies.clear()
    assert api.get(members, headers=copy).status_code == 401  # the login form
    fresh = admin_login(api, tenant, tenant.admin_token).cookies["scimsync_admin"]
    api.cookies.clear()
    assert api.get(members, headers={"Cookie": f"scimsync_admin={fresh}"}).status_code == 200


def test_dashboard_logins_are_throttled_per_address(api: Any) -> None:
    for _ in range(LOGIN_ATTEMPTS):
        assert dashboard_login(api, "not-the-token").status_code == 401
    throttled = dashboard_login(api)  # even the right token, once over the budget
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) >= 1
    assert "set-cookie" not in throttled.headers


def test_workspace_logins_are_throttled_per_address(api: Any, tenant: TenantHandle) -> None:
    for _ in range(LOGIN_ATTEMPTS):
        assert admin_login(api, tenant, "adm_wrong").status_code == 401
    throttled = admin_login(api, tenant, tenant.admin_token)
    assert throttled.status_code == 429 and "set-cookie" not in throttled.headers
