"""The URLs commands print are the running service's (issue 20, item 2): `scimsync api`
records where it listens, and `scim enable` run from another terminal (another working
directory, no SCIMSYNC_PORT) prints that port, not the default 8000."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.support.workspace import make_tenant
from worker.service_url import FILE_NAME


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _scimsync(*args: str, cwd: Path) -> Any:
    env = {k: v for k, v in os.environ.items() if k != "SCIMSYNC_PORT"}
    done = subprocess.run(
        [sys.executable, "-c", "from worker.cli import main; main()", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_scim_enable_prints_the_port_the_running_api_listens_on(
    service_env: dict[str, str], engine: Any, redis_client: Any, tmp_path: Path
) -> None:
    tenant = make_tenant(engine)
    port = _free_port()
    api = subprocess.Popen(
        [sys.executable, "-c", "from worker.cli import main; main()", "api"],
        env={**os.environ, "SCIMSYNC_PORT": str(port), "SCIMSYNC_API_WORKERS": "1"},
        start_new_session=True,
    )
    record = Path(service_env["SCIMSYNC_VAR_DIR"]) / FILE_NAME
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert json.loads(record.read_text())["base_url"] == f"http://127.0.0.1:{port}"
        elsewhere = tmp_path / "another-terminal"
        elsewhere.mkdir()
        rotated = _scimsync("scim", "rotate-token", tenant.id, "--json", cwd=elsewhere)
        assert rotated["base_url"] == f"http://127.0.0.1:{port}/scim/v2/{tenant.id}"
        headers = {"Authorization": f"Bearer {rotated['token']}"}
        assert httpx.get(f"{rotated['base_url']}/Users", headers=headers).status_code == 200
    finally:
        os.killpg(api.pid, signal.SIGTERM)
        api.wait(timeout=30)
    assert not record.exists()  # a stopped service is not announced
    stopped = _scimsync("scim", "rotate-token", tenant.id, "--json", cwd=tmp_path)
    assert stopped["base_url"] == f"http://127.0.0.1:8000/scim/v2/{tenant.id}"
