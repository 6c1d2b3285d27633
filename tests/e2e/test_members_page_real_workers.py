"""Issue 3's Members-page scenario again, with nothing in-process: real uvicorn, real Celery
worker and beat, real HTTP. Each IdP step waits for the worker instead of draining."""

from __future__ import annotations

import time

import httpx
from sqlalchemy import func, select

from storage.event_state import EventState
from storage.schema import change_events
from tests.e2e.harness import ServiceStack
from tests.integration.events.admin import test_members_page_scenario as scenario
from tests.integration.events.admin.support import AdminApi, IdpClient
from tests.support.workspace import TenantHandle


class IdpWithRealWorkers(IdpClient):
    def apply(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with self.engine.connect() as conn:
                states = dict(
                    conn.execute(
                        select(change_events.c.state, func.count())
                        .where(change_events.c.tenant_id == self.tenant.id)
                        .group_by(change_events.c.state)
                    )
                    .tuples()
                    .all()
                )
            assert states.get("dead", 0) == 0, states
            if states.get(EventState.PENDING, 0) == 0:
                return
            time.sleep(0.2)
        raise AssertionError(f"the worker did not apply the events in 60 s: {states}")


def test_members_page_scenario_through_real_workers(stack: ServiceStack) -> None:
    created = stack.create_tenant("Acme", "acme.test", owner_email="owner@acme.test")
    tenant = TenantHandle(created.id, created.scim_token, created.admin_token)
    with httpx.Client(base_url=created.base_url, timeout=30) as client:
        scenario.test_members_page_scenario(
            api=client,
            admin=AdminApi(client, tenant),
            idp=IdpWithRealWorkers(client, tenant, stack.engine),
            engine=stack.engine,
            tenant=tenant,
        )
