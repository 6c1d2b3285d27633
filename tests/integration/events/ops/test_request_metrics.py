"""Request metrics through the real app: routes are labelled by their template, never by
the raw path, and only an authenticated tenant becomes a label (made-up ids mint no
series)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from events.app import build_runtime, create_app
from tests.support.workspace import make_tenant
from worker.settings import get_settings


class Recorder:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.limited: list[str] = []
        self.batches: list[int] = []

    def request(self, *, tenant: str, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.append({"tenant": tenant, "route": route, "method": method, "status": status})

    def rate_limited(self, tenant: str) -> None:
        self.limited.append(tenant)

    def write_batch(self, writes: int) -> None:
        self.batches.append(writes)


@pytest.fixture
def recorded(service_env: Any, engine: Any, redis_client: Any) -> Iterator[tuple[Any, Recorder]]:
    """The real app, its request figures going to a recorder instead of Prometheus."""
    recorder = Recorder()
    runtime = dataclasses.replace(build_runtime(get_settings()), metrics=recorder)
    with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
        yield client, recorder


def test_routes_are_labelled_by_template_and_tenant(
    recorded: tuple[Any, Recorder], engine: Any
) -> None:
    api, recorder = recorded
    tenant = make_tenant(engine)
    missing = str(uuid.uuid4())

    answer = api.get(f"/scim/v2/{tenant.id}/Users/{missing}", headers=tenant.scim_headers)

    assert answer.status_code == 404
    [seen] = recorder.requests
    assert seen == {
        "tenant": tenant.id,
        "route": "/scim/v2/{tenant_id}/Users/{resource_id}",
        "method": "GET",
        "status": 404,
    }
    assert missing not in seen["route"]


def test_strangers_and_unknown_paths_mint_no_series(recorded: tuple[Any, Recorder]) -> None:
    api, recorder = recorded
    made_up = str(uuid.uuid4())

    assert api.get(f"/scim/v2/{made_up}/Users").status_code == 401
    assert api.get(f"/no/such/{made_up}").status_code == 404

    labels = [(r["tenant"], r["route"], r["status"]) for r in recorder.requests]
    assert labels == [
        ("-", "/scim/v2/{tenant_id}/Users", 401),
        ("-", "unmatched", 404),
    ]
