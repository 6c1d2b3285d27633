"""An unexpected failure inside any route is answered with a generic error: no message,
traceback, SQL, parameter or file path of ours reaches the caller."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from events.hooks.routes import signature_header
from storage.db import unit_of_work
from tests.security.conftest import assert_no_leak, row_counts
from tests.support.workspace import TenantHandle, group_body, issue_webhook_secret, user_body

SECRET_TEXT = "secret /work/main/storage/mirror.py SELECT token_hash FROM api_tokens"


def runtime_error(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError(SECRET_TEXT)


def database_error(*args: Any, **kwargs: Any) -> Any:
    raise OperationalError(
        "SELECT * FROM mirror_users WHERE id = %(id)s", {"id": "hunter2"}, Exception(SECRET_TEXT)
    )


def _scim_post(api: Any, t: TenantHandle, _: str) -> Any:
    return api.post(f"{t.scim_base}/Users", json=user_body("u@acme.test"), headers=t.scim_headers)


def _scim_list(api: Any, t: TenantHandle, _: str) -> Any:
    return api.get(f"{t.scim_base}/Users", headers=t.scim_headers)


def _scim_group(api: Any, t: TenantHandle, _: str) -> Any:
    return api.post(f"{t.scim_base}/Groups", json=group_body("G"), headers=t.scim_headers)


def _bulk(api: Any, t: TenantHandle, _: str) -> Any:
    return api.post(
        f"{t.scim_base}/Bulk",
        headers=t.scim_headers,
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
            "Operations": [{"method": "POST", "path": "/Users", "data": user_body("b@acme.test")}],
        },
    )


def _admin(api: Any, t: TenantHandle, _: str) -> Any:
    return api.get(f"/api/v1/workspaces/{t.id}/members", headers=t.admin_headers)


def _webhook(api: Any, t: TenantHandle, secret: str) -> Any:
    body = b'{"id": "e1", "type": "user.upserted", "data": {"userName": "w@acme.test"}}'
    return api.post(
        f"/hooks/v1/{t.id}/events",
        content=body,
        headers={"X-Scimsync-Signature": signature_header(secret, int(time.time()), body)},
    )


# (what to break, the request that reaches it, SCIM error body or the admin/webhook shape)
CASES = [
    ("storage.mirror.insert_user", _scim_post, True),
    ("storage.mirror.list_users", _scim_list, True),
    ("storage.mirror.insert_group", _scim_group, True),
    ("storage.mirror.insert_user", _bulk, True),
    ("storage.workspace.admin_members.AdminMemberSql.member_counts", _admin, False),
    ("events.hooks.routes.apply_event", _webhook, False),
]


@pytest.mark.parametrize("failure", [runtime_error, database_error])
@pytest.mark.parametrize(("target", "request_", "scim"), CASES)
def test_an_unexpected_error_is_a_generic_500_and_a_database_fault_a_503(
    api: Any,
    engine: Engine,
    tenant: TenantHandle,
    monkeypatch: pytest.MonkeyPatch,
    target: str,
    request_: Callable[..., Any],
    scim: bool,
    failure: Callable[..., Any],
) -> None:
    with unit_of_work(engine) as conn:
        secret = issue_webhook_secret(conn, tenant.id)
    before = row_counts(engine)
    monkeypatch.setattr(target, failure)
    response = request_(api, tenant, secret)
    # A database fault is the world's, not the request's: 503, retry (events/http_errors.py).
    status, code, detail = (
        (503, "unavailable", "temporarily unavailable; retry later")
        if failure is database_error
        else (500, "internal_error", "internal error")
    )
    assert response.status_code == status, response.text
    for fragment in (
        "secret",
        "/work/",
        "SELECT",
        "hunter2",
        "mirror_users",
        "RuntimeError",
        "OperationalError",
    ):
        assert fragment not in response.text
    assert_no_leak(response.text)
    body = response.json()
    if scim:
        assert body == {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
            "status": str(status),
            "detail": detail,
        }
        assert response.headers["content-type"].startswith("application/scim+json")
    else:
        assert body == {
            "error": code,
            "detail": detail,
        }
    assert row_counts(engine) == before  # nothing half-written


def test_validation_errors_of_fastapi_do_not_echo_internals(api: Any, tenant: TenantHandle) -> None:
    response = api.get(
        f"/api/v1/workspaces/{tenant.id}/members",
        params={"status": "x" * 50},
        headers=tenant.admin_headers,
    )
    assert response.status_code == 400
    assert_no_leak(response.text)
