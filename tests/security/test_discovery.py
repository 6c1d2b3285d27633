"""Issue 16 item 5: a stranger cannot tell which tenants exist, nor read the API's map.

Every refused credential is the same 401 (status, body, headers): an unknown tenant, a
tenant with SCIM off, a missing, wrong or other tenant's token. `/metrics` can require a
bearer token and hash or drop its tenant labels; `/docs` and `/openapi.json` are off
unless SCIMSYNC_API_DOCS is set.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from events.hooks.routes import SIGNATURE_HEADER, signature_header
from storage import tenants
from storage.db import unit_of_work
from tests.support.workspace import (
    TenantHandle,
    issue_okta_secret,
    issue_webhook_secret,
    make_tenant,
    user_body,
)
from worker.metrics.labels import tenant_hash
from worker.settings import get_settings

UNKNOWN = "00000000-0000-0000-0000-000000000000"


def _shape(response: Any) -> tuple[int, str, str | None, str | None]:
    """What a client sees of a refusal, but the request id."""
    return (
        response.status_code,
        response.text,
        response.headers.get("www-authenticate"),
        response.headers.get("content-type"),
    )


@pytest.fixture
def app_with(
    service_env: Any, engine: Engine, redis_client: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Any]]:
    """A TestClient on the app built with extra SCIMSYNC_* settings."""
    from fastapi.testclient import TestClient

    from events.app import create_app

    clients: list[Any] = []

    def build(**env: str) -> Any:
        for key, value in env.items():
            monkeypatch.setenv(f"SCIMSYNC_{key.upper()}", value)
        get_settings.cache_clear()
        client = TestClient(create_app(), raise_server_exceptions=False)
        clients.append(client.__enter__())
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)
    get_settings.cache_clear()


def test_every_refused_scim_credential_is_the_same_401(
    api: Any, engine: Engine, tenant: TenantHandle, other: TenantHandle
) -> None:
    off = make_tenant(engine, name="Initech", domains=("initech.test",), owner_email=None)
    with unit_of_work(engine) as conn:
        tenants.disable_scim(conn, off.id)

    def get(tenant_id: str, token: str | None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return api.get(f"/scim/v2/{tenant_id}/Users", headers=headers)

    refusals = {
        "unknown tenant": get(UNKNOWN, tenant.scim_token),
        "scim off": get(off.id, off.scim_token),
        "wrong token": get(tenant.id, "scim_" + "x" * 43),
        "no token": get(tenant.id, None),
        "other tenant's token": get(tenant.id, other.scim_token),
        "admin token": get(tenant.id, tenant.admin_token),
    }
    shapes = {name: _shape(response) for name, response in refusals.items()}
    assert set(shapes.values()) == {shapes["wrong token"]}, shapes
    assert shapes["wrong token"][0] == 401
    assert get(tenant.id, tenant.scim_token).status_code == 200


def test_every_refused_webhook_credential_is_the_same_401(
    api: Any, engine: Engine, tenant: TenantHandle
) -> None:
    with unit_of_work(engine) as conn:
        secret = issue_webhook_secret(conn, tenant.id)
        okta_secret = issue_okta_secret(conn, tenant.id)  # Okta hooks have their own secret
    body = json.dumps({"id": "e1", "type": "user.deleted", "data": {}}).encode()

    def push(tenant_id: str, key: str) -> Any:
        header = signature_header(key, int(time.time()), body)
        return api.post(
            f"/hooks/v1/{tenant_id}/events", content=body, headers={SIGNATURE_HEADER: header}
        )

    def okta(tenant_id: str, key: str) -> Any:
        headers = {"Authorization": key, "X-Okta-Verification-Challenge": "c"}
        return api.get(f"/hooks/v1/{tenant_id}/okta", headers=headers)

    pushes = [push(UNKNOWN, secret), push(tenant.id, "whk_wrong")]
    assert len({_shape(r) for r in pushes}) == 1 and pushes[0].status_code == 401
    hooks = [
        okta(UNKNOWN, okta_secret),
        okta(tenant.id, "whk_wrong"),
        okta(tenant.id, ""),
        okta(tenant.id, secret),  # the signing secret is not the Okta hook's
    ]
    assert len({_shape(r) for r in hooks}) == 1 and hooks[0].status_code == 401
    assert okta(tenant.id, okta_secret).status_code == 200


def test_every_refused_admin_credential_is_the_same_401(api: Any, tenant: TenantHandle) -> None:
    responses = [
        api.get(f"/api/v1/workspaces/{UNKNOWN}/members", headers=tenant.admin_headers),
        api.get(f"/api/v1/workspaces/{tenant.id}/members", headers={"Authorization": "Bearer x"}),
        api.get(f"/api/v1/workspaces/{tenant.id}/members"),
    ]
    assert len({_shape(r) for r in responses}) == 1 and responses[0].status_code == 401


def test_metrics_can_require_a_bearer_token(app_with: Callable[..., Any]) -> None:
    client = app_with(metrics_token="prom-secret")
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", headers={"Authorization": "Bearer prom-secre"})
    assert wrong.status_code == 401
    right = client.get("/metrics", headers={"Authorization": "Bearer prom-secret"})
    assert right.status_code == 200 and "scimsync_" in right.text


def test_metrics_tenant_labels_can_be_hashed_or_dropped(
    app_with: Callable[..., Any], engine: Engine, tenant: TenantHandle
) -> None:
    def scraped(mode: str) -> str:
        client = app_with(metrics_tenant_labels=mode)
        created = client.post(
            f"{tenant.scim_base}/Users",
            json=user_body(f"{mode}@acme.test"),
            headers=tenant.scim_headers,
        )
        assert created.status_code == 201
        return str(client.get("/metrics").text)

    assert f'tenant="{tenant.id}"' in scraped("id")
    hashed = scraped("hashed")
    assert tenant.id not in hashed
    assert f'tenant="{tenant_hash(tenant.id)}"' in hashed
    dropped = scraped("none")
    assert tenant.id not in dropped and "tenant=" not in dropped
    assert "scimsync_queue_depth" in dropped and "scimsync_ingest_requests_total" in dropped


def test_api_docs_are_off_unless_asked_for(app_with: Callable[..., Any]) -> None:
    default = app_with()
    assert default.get("/docs").status_code == 404
    assert default.get("/openapi.json").status_code == 404
    enabled = app_with(api_docs="true")
    assert enabled.get("/docs").status_code == 200
    assert enabled.get("/openapi.json").json()["info"]["title"] == "scim-sync"
