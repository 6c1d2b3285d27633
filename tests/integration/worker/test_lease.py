"""The reconcile lease: a run outlives its TTL while its heartbeat renews it; a run that
lost it (expired, taken over) stops before its next write and changes nothing more."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import update

from storage import reconcile_store
from storage.clock import utcnow
from storage.db import unit_of_work
from storage.schema import members
from tests.support.workspace import make_tenant, user_body, workspace_state
from worker.lease import Lease, LeaseLost
from worker.pipeline import drain
from worker.reconcile_jobs import lease_for, run_reconcile


def test_the_heartbeat_keeps_a_lease_past_its_ttl(redis_client: Any) -> None:
    lease = Lease(redis_client, "scimsync:test-lease", ttl=1.0, beat=0.2)
    assert lease.acquire()
    try:
        time.sleep(2.5)  # two and a half TTLs
        lease.check()
        assert not Lease(redis_client, "scimsync:test-lease", ttl=1.0).acquire()
    finally:
        lease.release()
    assert Lease(redis_client, "scimsync:test-lease", ttl=1.0).acquire()


def test_a_lease_taken_over_fails_the_fencing_check(redis_client: Any) -> None:
    lease = Lease(redis_client, "scimsync:test-lease", ttl=30, beat=30)
    assert lease.acquire()
    redis_client.delete("scimsync:test-lease")  # expired while the process was stopped
    other = Lease(redis_client, "scimsync:test-lease", ttl=30, beat=30)
    assert other.acquire()
    with pytest.raises(LeaseLost):
        lease.check()
    lease.release()
    other.check()  # releasing the stale lease did not free the new holder's
    other.release()


def test_a_run_superseded_mid_way_writes_nothing(
    api: Any, engine: Any, service_env: Any, redis_client: Any
) -> None:
    """While the run plans, its lease expires and another run of the tenant starts: the
    fencing check before the first write batch stops it."""
    tenant = make_tenant(engine)
    for i in range(3):
        api.post(
            f"{tenant.scim_base}/Users",
            json=user_body(f"f{i}@acme.test"),
            headers=tenant.scim_headers,
        )
    drain(engine, tenant.id, batch_size=500, time_budget=30)
    with engine.begin() as conn:
        conn.execute(
            update(members)
            .where(members.c.email_ci == "f1@acme.test")
            .values(status="deactivated", status_before_deactivation="active")
        )
    drifted = workspace_state(engine, tenant.id)

    def take_over(stage: str, n: int, total: int) -> None:
        if stage == "plan":
            redis_client.delete(lease_for(tenant.id).name)
            with unit_of_work(engine) as conn:
                reconcile_store.start_run(
                    conn, tenant.id, source="mirror", dry_run=False, forced=False, now=utcnow()
                )

    report = run_reconcile(tenant.id, progress=take_over)

    assert report["outcome"] == "failed" and "LeaseLost" in report["detail"]
    assert workspace_state(engine, tenant.id) == drifted
