"""Scheduled full reconciles with real processes: two beat schedulers, one worker pool,
and never two runs of one tenant at the same time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from storage.clock import as_utc
from storage.schema import reconcile_runs
from tests.support.workspace import make_tenant, user_body

pytestmark = pytest.mark.slow


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    scimsync = str(Path(sys.executable).parent / "scimsync")
    return subprocess.Popen(
        [scimsync, *args],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def test_two_beats_never_run_one_tenant_twice_at_once(
    api: Any, engine: Any, service_env: dict[str, str], tmp_path: Path
) -> None:
    tenant = make_tenant(engine)
    for i in range(30):
        api.post(
            f"{tenant.scim_base}/Users",
            json=user_body(f"b{i}@acme.test"),
            headers=tenant.scim_headers,
        )
    env = {
        **os.environ,
        **service_env,
        "SCIMSYNC_RECONCILE_INTERVAL_SECONDS": "1",
        "SCIMSYNC_RECONCILE_JITTER_SECONDS": "1",
        "SCIMSYNC_RECONCILE_CHECK_SECONDS": "0.5",
    }
    processes = []
    try:
        for n in (1, 2):
            beat_env = {**env, "SCIMSYNC_VAR_DIR": str(tmp_path / f"beat{n}")}
            processes.append(_spawn(["beat"], beat_env, tmp_path / f"beat{n}.log"))
        processes.append(_spawn(["worker", "--concurrency", "3"], env, tmp_path / "worker.log"))
        deadline = time.monotonic() + 60
        runs: list[Any] = []
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                runs = conn.execute(
                    select(reconcile_runs)
                    .where(reconcile_runs.c.tenant_id == tenant.id)
                    .order_by(reconcile_runs.c.started_at)
                ).all()
            if sum(r.finished_at is not None for r in runs) >= 4:
                break
            time.sleep(0.5)
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
    finished = [r for r in runs if r.finished_at is not None]
    logs = "\n".join((tmp_path / f).read_text()[-2000:] for f in ("beat1.log", "worker.log"))
    assert len(finished) >= 4, logs
    assert {r.outcome for r in finished} <= {"repaired", "in_sync"}
    for earlier, later in pairwise(finished):
        assert as_utc(later.started_at) >= as_utc(earlier.finished_at), "two runs overlapped"
