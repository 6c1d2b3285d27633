"""Shared steps of the fault tests: run the workload, wait for the service to settle, check."""

from __future__ import annotations

import contextlib
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, func, select

from storage.event_state import EventState
from storage.schema import change_events
from tests.chaos.checker import Report, check
from tests.chaos.history import History, Outcome
from tests.chaos.state import load_state
from tests.e2e.harness import ServiceStack, Tenant

SSO_DOMAIN = "acme.test"
SETTLE_TIMEOUT = 120.0
MIN_ACKNOWLEDGED = 1500


@dataclass
class FaultLog:
    """What the test broke, and how much work was in flight at that moment."""

    faults: list[tuple[str, float, int]] = field(default_factory=list)  # (kind, t, pending)
    started: float = field(default_factory=time.monotonic)

    def record(self, kind: str, pending: int) -> None:
        self.faults.append((kind, round(time.monotonic() - self.started, 1), pending))

    def count(self, kind: str) -> int:
        return sum(1 for k, _, _ in self.faults if k == kind)

    def __str__(self) -> str:
        return ", ".join(f"{k}@{t}s (pending {p})" for k, t, p in self.faults)


class WorkerSupervisor:
    """Starts a worker and starts a new one whenever it exits, as the deployment's restart
    policy does (Kubernetes, Compose `restart:`); every exit is recorded as a fault."""

    def __init__(self, stack: ServiceStack, faults: FaultLog, concurrency: int = 2):
        self.stack = stack
        self.faults = faults
        self.concurrency = concurrency
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> WorkerSupervisor:
        self.worker = self.stack.start_worker(self.concurrency)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _watch(self) -> None:
        while not self._stop.wait(0.5):
            if not self.worker.alive():
                code = self.worker.popen.returncode if self.worker.popen else None
                self.faults.record(f"worker exited by itself (code {code}), restarted", -1)
                self.worker = self.stack.start_worker(self.concurrency, wait_ready=False)


_APPLY_TASK = re.compile(r"Task scimsync\.apply_tenant\[([0-9a-f-]+)\] (\w+)")


def apply_task_in_flight(log_path: Path) -> str | None:
    """The id of an apply task the worker's log shows received and not yet finished."""
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return None
    received: dict[str, None] = {}
    for task_id, verb in _APPLY_TASK.findall(text):
        if verb == "received":
            received[task_id] = None
        else:  # succeeded, failed, raised, retry
            received.pop(task_id, None)
    return next(reversed(received), None) if received else None


def task_finished(log_path: Path, task_id: str) -> bool:
    text = log_path.read_text(errors="replace")
    return any(t == task_id and verb != "received" for t, verb in _APPLY_TASK.findall(text))


def pending_events(engine: Engine, tenant_id: str) -> int:
    """-1 when the database cannot answer (it may be the thing that is down)."""
    with contextlib.suppress(Exception), engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).where(
                    change_events.c.tenant_id == tenant_id,
                    change_events.c.state == EventState.PENDING,
                )
            ).scalar_one()
        )
    return -1


def settle_and_check(
    stack: ServiceStack, tenant: Tenant, history: History, timeout: float = SETTLE_TIMEOUT
) -> Report:
    """Poll until the checker is satisfied or `timeout` passes; the last report either way."""
    deadline = time.monotonic() + timeout
    while True:
        report = check(history, load_state(stack.engine, tenant.id), {SSO_DOMAIN})
        if report.ok or time.monotonic() > deadline:
            return report
        time.sleep(2)


def assert_clean(report: Report, history: History, faults: FaultLog) -> None:
    print(f"faults: {faults}\nchecker: {report.counts}")  # shown with -s / -rP
    assert report.ok, f"faults: {faults}\n{report.describe()}"
    acknowledged = history.count(Outcome.OK)
    assert acknowledged >= MIN_ACKNOWLEDGED, f"only {acknowledged} writes acknowledged"
