"""Schemathesis against the app's own OpenAPI document: every SCIM and admin operation,
valid and invalid inputs, a valid token injected. No input may cause a 5xx, and a
refused request (4xx) must change nothing in the database.

Bounded: `SCIMSYNC_FUZZ_EXAMPLES` examples per operation (default 50), a few minutes per
backend in CI. Webhook routes are fuzzed with signed bodies in test_webhook_fuzz.py
(a generated body cannot carry a valid signature).
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from sqlalchemy import Engine

from events.app import create_app
from storage import tenants
from storage.db import unit_of_work
from tests.fuzz.openapi_bodies import fuzzable
from tests.security.conftest import row_counts
from tests.support.workspace import TenantHandle, group_body, make_tenant, user_body
from worker.pipeline import drain

EXAMPLES = int(os.environ.get("SCIMSYNC_FUZZ_EXAMPLES", "50"))
SCHEMA = schemathesis.openapi.from_dict(fuzzable(create_app().openapi()))
SCHEMA.config.generation.update(max_examples=EXAMPLES)
# What only our internals could put in a body (the input itself may be echoed, and the
# fuzzer does generate words like "sqlalchemy": those are removed before looking).
LEAKS = ("Traceback (most recent", 'File "/', "site-packages", "sqlalchemy.", "psycopg.")


def _without_echoes(text: str, case: Any) -> str:
    for part in (case.path_parameters, case.query or {}):
        for value in (part or {}).values():
            for piece in value if isinstance(value, list) else [value]:
                if isinstance(piece, str) and len(piece) > 2:
                    text = text.replace(piece, "")
    return text


@dataclass
class World:
    app: Any
    engine: Engine
    tenant: TenantHandle
    ids: dict[str, list[str]] = field(default_factory=dict)  # path parameter -> real ids

    def headers(self, path: str) -> dict[str, str]:
        token = self.tenant.scim_token if path.startswith("/scim/") else self.tenant.admin_token
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def world(service_env: Any, engine: Engine, redis_client: Any) -> Iterator[World]:
    from fastapi.testclient import TestClient

    app = create_app()
    tenant = make_tenant(engine)
    with unit_of_work(engine) as conn:  # throttling is tested elsewhere; here it would hide bugs
        tenants.set_options(conn, tenant.id, {"rate_limit_per_second": 0})
    with TestClient(app) as client:
        user = client.post(
            f"{tenant.scim_base}/Users",
            json=user_body("seed@acme.test"),
            headers=tenant.scim_headers,
        ).json()
        group = client.post(
            f"{tenant.scim_base}/Groups",
            json=group_body("Seed", [user["id"]]),
            headers=tenant.scim_headers,
        ).json()
        drain(engine, tenant.id, batch_size=500, time_budget=5)
        members = client.get(
            f"/api/v1/workspaces/{tenant.id}/members", headers=tenant.admin_headers
        ).json()
        groups = client.get(
            f"/api/v1/workspaces/{tenant.id}/groups", headers=tenant.admin_headers
        ).json()
    member_ids = [m["id"] for m in _items(members)]
    group_ids = [g["id"] for g in _items(groups)]
    yield World(
        app,
        engine,
        tenant,
        {
            "resource_id": [user["id"], group["id"]],
            "member_id": member_ids,
            "group_id": group_ids,
        },
    )


def _items(listing: Any) -> list[dict[str, Any]]:
    if isinstance(listing, list):
        return listing
    for value in listing.values():
        if isinstance(value, list):
            return value
    return []


def _aim(case: Any, world: World) -> None:
    """Our tenant always; about half of the ids made real, so writes reach real rows."""
    params = case.path_parameters
    params["tenant_id"] = world.tenant.id
    for name, real in world.ids.items():
        if name in params and real:
            digest = zlib.crc32(repr(params[name]).encode())
            if digest % 2 == 0:
                params[name] = real[digest // 2 % len(real)]


@pytest.mark.slow
@SCHEMA.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_error_and_refusals_change_nothing(case: Any, world: World) -> None:
    _aim(case, world)
    writes = case.method.upper() != "GET"
    before = row_counts(world.engine) if writes else None
    response = case.call(app=world.app, headers=world.headers(case.operation.path))
    shown = _without_echoes(response.text, case)
    for leak in LEAKS:
        assert leak not in shown, response.text[:500]
    case.validate_response(response, checks=[not_a_server_error])
    if writes and response.status_code >= 400:
        assert row_counts(world.engine) == before, (response.status_code, response.text[:300])
