"""The conformance gate: the public `scim2-tester` checker of the python-scim project,
driven as a library against the service on a real socket, on the backend of this pass
(SQLite, or PostgreSQL when SCIMSYNC_DATABASE_URL is set). It builds its requests from
the server's own /Schemas, so it fails whenever discovery and enforcement disagree.
Every check must be a success."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx2
import pytest
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

from storage import tenants
from storage.db import unit_of_work
from tests.support.workspace import TenantHandle, make_tenant


@pytest.fixture
def tenant(engine: Any, service_env: Any) -> TenantHandle:
    handle = make_tenant(engine)
    # The checker sends its ~300 requests back to back and does not honour 429 as an
    # IdP does: on a fast machine it outruns the default burst. The tenant gets the
    # limit an operator would give an initial import (`scimsync tenant limits`).
    with unit_of_work(engine) as conn:
        tenants.set_options(
            conn, handle.id, {"rate_limit_per_second": 10_000, "rate_limit_burst": 10_000}
        )
    return handle


def test_scim2_tester_reports_every_check_a_success(live_server: str, tenant: TenantHandle) -> None:
    with httpx2.Client(
        base_url=f"{live_server}{tenant.scim_base}",
        headers={"Authorization": tenant.scim_headers["Authorization"]},
        timeout=30,
    ) as http:
        client = SyncSCIMClient(http)
        results = check_server(client)
    tally = Counter(r.status.name for r in results)
    print(f"scim2-tester: {len(results)} checks, {dict(tally)}")
    failures = [
        f"{r.title}: {r.status.name}: {r.reason}" for r in results if r.status is not Status.SUCCESS
    ]
    assert results and not failures, "\n".join(failures)
