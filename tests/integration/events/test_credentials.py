"""SCIM tokens are remembered for at most a second: a revoked one stops working within
that second wherever it was revoked, and at once when this process's admin API did it."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import Engine

from events.credentials import CredentialCache
from storage import tenants
from storage.db import unit_of_work
from tests.support.workspace import TenantHandle, make_tenant


@pytest.fixture
def tenant(engine: Engine, service_env: Any) -> TenantHandle:
    return make_tenant(engine)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_accepted_token_is_answered_from_memory_until_the_second_is_over(
    engine: Engine,
) -> None:
    tenant = make_tenant(engine)
    clock = FakeClock()
    cache = CredentialCache(ttl=1.0, clock=clock)
    found, token_id = cache.authenticate(engine, tenant.id, "scim", tenant.scim_token)
    assert found is not None and found.id == tenant.id and token_id is not None
    with unit_of_work(engine) as conn:  # revoked by another process: the CLI
        tenants.rotate_token(conn, tenant.id, "scim")
    clock.now += 0.9
    assert cache.authenticate(engine, tenant.id, "scim", tenant.scim_token)[1] == token_id
    clock.now += 0.1
    assert cache.authenticate(engine, tenant.id, "scim", tenant.scim_token)[1] is None


def test_refusals_are_never_remembered(engine: Engine) -> None:
    tenant = make_tenant(engine)
    with unit_of_work(engine) as conn:
        tenants.disable_scim(conn, tenant.id)
    cache = CredentialCache(ttl=60.0, clock=FakeClock())
    assert cache.authenticate(engine, tenant.id, "scim", tenant.scim_token)[1] is None
    with unit_of_work(engine) as conn:
        issued = tenants.enable_scim(conn, tenant.id)
    assert cache.authenticate(engine, tenant.id, "scim", issued.token)[1] == issued.id
    assert cache.authenticate(engine, tenant.id, "scim", "scim_wrong")[1] is None


def test_a_token_revoked_by_another_process_stops_working_within_a_second(
    api: Any, engine: Engine, tenant: TenantHandle
) -> None:
    users = f"/scim/v2/{tenant.id}/Users"
    assert api.get(users, headers=tenant.scim_headers).status_code == 200
    with unit_of_work(engine) as conn:
        tenants.rotate_token(conn, tenant.id, "scim")
    revoked_at = time.monotonic()
    while True:  # a request sent a second after the revocation is refused
        sent_at = time.monotonic()
        if api.get(users, headers=tenant.scim_headers).status_code != 200:
            break
        assert sent_at - revoked_at < 1.0, "the revoked token still works after 1 s"
        time.sleep(0.05)
    assert api.get(users, headers=tenant.scim_headers).status_code == 401


def test_scim_switched_off_through_the_admin_api_refuses_the_next_request(
    api: Any, tenant: TenantHandle
) -> None:
    users = f"/scim/v2/{tenant.id}/Users"
    assert api.get(users, headers=tenant.scim_headers).status_code == 200
    admin = {"Authorization": f"Bearer {tenant.admin_token}"}
    assert api.delete(f"/api/v1/workspaces/{tenant.id}/scim", headers=admin).status_code == 204
    assert api.get(users, headers=tenant.scim_headers).status_code == 401
