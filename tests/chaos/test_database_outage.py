"""PostgreSQL stops for ~10 s (every connection cut at once) while SCIM writes flow in.

Only on the PostgreSQL pass: it runs against the module's private cluster
(tests/chaos/conftest.py), never the machine's shared server. Requests during
the outage fail with 5xx; they are not acknowledged, and the IdP retries them.
"""

from __future__ import annotations

import os
import random
import time

import pytest

from tests.chaos.conftest import Chaos
from tests.chaos.history import Outcome
from tests.chaos.scenario import (
    SSO_DOMAIN,
    FaultLog,
    WorkerSupervisor,
    assert_clean,
    pending_events,
    settle_and_check,
)
from tests.chaos.workload import Workload, WorkloadConfig

OUTAGE_SECONDS = 10.0


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("SCIMSYNC_DATABASE_URL"),
    reason="SQLite is a file, not a server that can go away: the database outage runs on "
    "the PostgreSQL pass (SCIMSYNC_DATABASE_URL set) against a private cluster",
)
def test_no_acknowledged_write_is_lost_when_postgres_stops(chaos: Chaos) -> None:
    stack, postgres = chaos.stack, chaos.postgres
    assert postgres is not None
    tenant = stack.create_tenant("Outage", SSO_DOMAIN)
    rng = random.Random(3)
    faults = FaultLog()
    with WorkerSupervisor(stack, faults):
        workload = Workload(tenant, WorkloadConfig(seed=3)).start()
        time.sleep(rng.uniform(6.0, 10.0))
        faults.record("postgres down", pending_events(stack.engine, tenant.id))
        postgres.stop("immediate")
        down_from = time.monotonic()
        time.sleep(OUTAGE_SECONDS)
        postgres.start()
        faults.record("postgres up", pending_events(stack.engine, tenant.id))
        history = workload.join()
        report = settle_and_check(stack, tenant, history)
    assert_clean(report, history, faults)
    refused = [
        op
        for op in history
        if op.outcome is not Outcome.OK
        and op.invoked >= down_from
        and op.status in (None, 500, 502, 503, 504)
    ]
    assert refused, "no request failed: the outage did not happen while writes flowed"
    assert stack.live("worker") and stack.live("api") and stack.live("beat")
