"""Workers SIGKILLed at random moments while thousands of SCIM writes flow in.

Two kinds of crash: the whole worker (main process and pool at once, like a
lost machine: its message stays unacknowledged in Redis) and a single pool
process (like the OOM killer: the main process sees the child die and, with
task_reject_on_worker_lost, hands the message back). Either way no write the
IdP got a 2xx for may be lost, and the workspace must end equal to the mirror.
"""

from __future__ import annotations

import contextlib
import random
import signal
import time

import psutil
import pytest
from sqlalchemy import delete

from storage.schema import group_memberships, members
from tests.chaos.checker import check
from tests.chaos.conftest import Chaos
from tests.chaos.history import History
from tests.chaos.scenario import (
    SSO_DOMAIN,
    FaultLog,
    apply_task_in_flight,
    assert_clean,
    pending_events,
    settle_and_check,
    task_finished,
)
from tests.chaos.state import State, load_state
from tests.chaos.workload import Workload, WorkloadConfig
from tests.e2e.harness import ServiceStack, Tenant
from tests.e2e.processes import ManagedProcess, wait_for


@pytest.mark.slow
def test_no_acknowledged_write_is_lost_when_workers_are_killed(chaos: Chaos) -> None:
    stack = chaos.stack
    tenant = stack.create_tenant("Kill", SSO_DOMAIN)
    rng = random.Random(1)
    faults = FaultLog()
    worker = stack.start_worker(concurrency=2)
    workload = Workload(tenant, WorkloadConfig(seed=1)).start()
    while workload.running():
        if not worker.alive():
            time.sleep(rng.uniform(1.0, 4.0))  # a backlog builds while no worker runs
            worker = stack.start_worker(concurrency=2)
        _crash(worker, rng, faults, pending_events(stack.engine, tenant.id))
    history = workload.join()
    if not worker.alive():
        stack.start_worker(concurrency=2, wait_ready=False)

    report = settle_and_check(stack, tenant, history)
    assert_clean(report, history, faults)
    crashes = [kind for kind, _, _ in faults.faults]
    assert sum(1 for kind in crashes if kind.startswith("worker")) >= 3, f"too few: {faults}"
    assert sum(1 for kind in crashes if kind.endswith("mid-task")) >= 2, (
        f"too few crashes while an apply task ran: {faults}"
    )

    for process in stack.live("worker"):
        process.stop()  # nothing may repair what the self-check below breaks
    _checker_catches_a_lost_membership_and_member(stack, tenant, history)


def _crash(worker: ManagedProcess, rng: random.Random, faults: FaultLog, pending: int) -> None:
    """Usually while an apply task runs, sometimes at any moment at all; then SIGKILL the
    whole worker or its pool processes.

    Aiming at a running task: the worker is first frozen (SIGSTOP, as in a VM stall) for a
    moment so that a backlog builds; once it is let go, its next apply task carries a batch
    large enough that the kill lands inside it. Without the backlog a batch applies in a few
    milliseconds and the kill nearly always comes after the task has finished.
    """
    task = None
    if rng.random() < 0.7:
        worker.signal_group(signal.SIGSTOP)
        time.sleep(rng.uniform(1.0, 2.5))
        before = apply_task_in_flight(worker.log_path)
        worker.signal_group(signal.SIGCONT)
        with contextlib.suppress(TimeoutError):
            wait_for(
                lambda: apply_task_in_flight(worker.log_path) not in (None, before),
                timeout=10,
                interval=0.005,
                message="an apply task running after the stall",
            )
        task = apply_task_in_flight(worker.log_path)
    else:
        time.sleep(rng.uniform(0.3, 3.0))
        task = apply_task_in_flight(worker.log_path)
    whole = rng.random() < 0.6
    if whole:
        worker.kill()
    else:  # the main process survives, sees its children die, and hands the message back
        for child in [p for p in worker.group_members() if p.pid != worker.pid]:
            with contextlib.suppress(psutil.Error):
                child.kill()
    mid_task = task is not None and not task_finished(worker.log_path, task)
    faults.record(("worker" if whole else "pool") + (" mid-task" if mid_task else ""), pending)
    if not whole:
        time.sleep(rng.uniform(0.5, 2.0))


def _checker_catches_a_lost_membership_and_member(
    stack: ServiceStack, tenant: Tenant, history: History
) -> None:
    """The checker is not vacuous: remove applied rows and it must report them as lost."""
    state = load_state(stack.engine, tenant.id)
    group = next(g for g in state.workspace_groups.values() if g.scim_member_ids)
    member_in_group = sorted(group.scim_member_ids)[0]
    other = next(
        m for m in state.members.values() if m.scim_user_id and m.id not in group.scim_member_ids
    )
    with stack.engine.begin() as conn:
        conn.execute(
            delete(group_memberships).where(
                group_memberships.c.tenant_id == tenant.id,
                group_memberships.c.group_id == group.id,
                group_memberships.c.member_id == member_in_group,
            )
        )
        conn.execute(
            delete(group_memberships).where(
                group_memberships.c.tenant_id == tenant.id,
                group_memberships.c.member_id == other.id,
            )
        )
        conn.execute(
            delete(members).where(members.c.tenant_id == tenant.id, members.c.id == other.id)
        )
    report = check(history, load_state(stack.engine, tenant.id), {SSO_DOMAIN})
    lost = "\n".join(report.lost)
    assert "workspace: ('member'," in lost, report.describe()
    assert f"workspace: ('user', '{_logical(state, other.scim_user_id)}', 'exists')" in lost, (
        report.describe()
    )
    assert not report.ok and report.drift


def _logical(state: State, scim_user_id: str | None) -> str:
    return str(state.users[str(scim_user_id)].external_id)
