"""Redis crashes and comes back empty (no persistence) while SCIM writes flow in.

Everything Redis held is gone: queued and unacknowledged task messages, the
publish dedupe keys. Writes acknowledged while Redis was down were never
published at all. The outbox and the relay must make all of it good.

A worker that exits meanwhile is started again, as a deployment's restart
policy would: with kombu 5.7.0 a connection loss while the worker holds
unacknowledged messages can end the worker ("Unrecoverable error" while
restoring them, exit code 0). The fault log printed with the result lists
such exits.
"""

from __future__ import annotations

import random
import time

import pytest

from tests.chaos.conftest import Chaos
from tests.chaos.scenario import (
    SSO_DOMAIN,
    FaultLog,
    WorkerSupervisor,
    assert_clean,
    pending_events,
    settle_and_check,
)
from tests.chaos.workload import Workload, WorkloadConfig


@pytest.mark.slow
def test_no_acknowledged_write_is_lost_when_redis_restarts_empty(chaos: Chaos) -> None:
    stack = chaos.stack
    tenant = stack.create_tenant("Restart", SSO_DOMAIN)
    rng = random.Random(2)
    faults = FaultLog()
    with WorkerSupervisor(stack, faults):
        workload = Workload(tenant, WorkloadConfig(seed=2)).start()
        time.sleep(3)
        while workload.running() and faults.count("redis") < 4:
            faults.record("redis", pending_events(stack.engine, tenant.id))
            chaos.redis.restart(down_seconds=rng.uniform(0.5, 4.0))
            time.sleep(rng.uniform(3.0, 8.0))
        history = workload.join()
        report = settle_and_check(stack, tenant, history)
    assert_clean(report, history, faults)
    assert faults.count("redis") >= 3, f"too few restarts: {faults}"
