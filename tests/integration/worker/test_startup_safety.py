"""Issue 16 item 2 with real processes: a production process refuses to start with a
placeholder secret and names it; Flower is read-only and behind its basic auth, so it
cannot queue a task; and no task argument points a worker at a URL or a file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from storage import tenants
from storage.db import unit_of_work
from storage.schema import reconcile_runs
from tests.e2e.processes import free_port
from tests.support.workspace import make_tenant
from worker.settings import get_settings

SCIMSYNC = str(Path(sys.executable).parent / "scimsync")
STRONG_TOKEN = "op_" + "k" * 43
FLOWER_AUTH = ("ops", "Tq8vW2pLx9zR-flower")


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SCIMSYNC, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize("command", ["api", "worker", "beat", "up", "flower"])
def test_a_production_process_refuses_a_placeholder_secret_and_names_it(
    command: str, service_env: dict[str, str], tmp_path: Path
) -> None:
    env = {
        **os.environ,
        **service_env,
        "SCIMSYNC_ENVIRONMENT": "production",
        "SCIMSYNC_OPERATOR_TOKEN": "change-me-operator-token",
        "SCIMSYNC_SECRET_KEY": "A" * 43 + "=",
        "FLOWER_BASIC_AUTH": "operator:" + "-".join(FLOWER_AUTH),
    }
    started = time.monotonic()
    done = run([command], env)
    assert done.returncode == 1, done
    assert "SCIMSYNC_OPERATOR_TOKEN is a placeholder" in done.stderr, done.stderr
    assert "change-me-operator-token" not in done.stderr + done.stdout
    assert time.monotonic() - started < 30  # refused at once, nothing served meanwhile
    as_json = json.loads(run([command, "--json"], env).stdout)
    assert as_json["error"] == "unsafe_setting" and as_json["exit_code"] == 1


def test_flower_without_basic_auth_is_refused_in_production(service_env: dict[str, str]) -> None:
    env = {**os.environ, **service_env, "SCIMSYNC_ENVIRONMENT": "production"}
    env.pop("FLOWER_BASIC_AUTH", None)
    env["SCIMSYNC_OPERATOR_TOKEN"] = STRONG_TOKEN
    done = run(["flower"], env)
    assert done.returncode == 1 and "FLOWER_BASIC_AUTH is not set" in done.stderr, done


def test_flower_is_read_only_and_behind_its_basic_auth(
    service_env: dict[str, str], engine: Any, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **os.environ,
        **service_env,
        "SCIMSYNC_ENVIRONMENT": "production",
        "SCIMSYNC_OPERATOR_TOKEN": STRONG_TOKEN,
        "FLOWER_BASIC_AUTH": ":".join(FLOWER_AUTH),
    }
    log = (tmp_path / "flower.log").open("wb")
    flower = subprocess.Popen(
        [SCIMSYNC, "flower", f"--port={port}"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthcheck", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            pytest.fail((tmp_path / "flower.log").read_text())
        assert httpx.get(f"{base}/api/workers", timeout=5).status_code == 401
        # The password is read from the environment, never put on the command line (`ps`).
        cmdline = Path(f"/proc/{flower.pid}/cmdline").read_bytes().decode()
        assert FLOWER_AUTH[1] not in cmdline
        queued = httpx.post(
            f"{base}/api/task/async-apply/scimsync.reconcile_tenant",
            json={"args": ["t1", "file:/etc/passwd"]},
            auth=FLOWER_AUTH,
            timeout=5,
        )
        assert queued.status_code == 403, queued.text  # read-only: no task can be queued
    finally:
        flower.terminate()
        flower.wait(timeout=20)


@pytest.mark.parametrize(
    "source",
    ["scim:http://attacker.test/scim/v2", "file:/etc/passwd", "okta", "other-tenant", None, 1],
)
def test_a_reconcile_task_naming_a_url_or_a_file_is_refused_before_any_run(
    source: Any, engine: Any, service_env: dict[str, str], tmp_path: Path
) -> None:
    from worker.tasks import reconcile_tenant

    tenant = make_tenant(engine)
    result = reconcile_tenant.run(tenant.id, source)
    assert "refused" in result, result
    with engine.connect() as conn:
        assert conn.execute(select(reconcile_runs.c.id)).first() is None


def test_a_queued_reconcile_of_a_tenant_whose_scim_was_turned_off_is_skipped(
    engine: Any, service_env: dict[str, str]
) -> None:
    from worker.tasks import reconcile_tenant

    tenant = make_tenant(engine)
    with unit_of_work(engine) as conn:
        tenants.disable_scim(conn, tenant.id)
    assert reconcile_tenant.run(tenant.id, "mirror") == {"skipped": "scim_disabled"}
    with engine.connect() as conn:
        assert conn.execute(select(reconcile_runs.c.id)).first() is None


def test_a_configured_source_is_the_tenants_own(
    engine: Any, service_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from worker.tasks import resolve_task_source

    mine, theirs = make_tenant(engine), make_tenant(engine, name="Other")
    snapshot = tmp_path / "snapshot.ndjson"
    snapshot.write_text("")
    monkeypatch.setenv("SCIMSYNC_RECONCILE_SOURCES", json.dumps({mine.id: f"file:{snapshot}"}))
    get_settings.cache_clear()
    assert resolve_task_source(mine.id, "configured") == f"file:{snapshot}"
    assert resolve_task_source(theirs.id, "configured") is None  # not another tenant's
    assert resolve_task_source(theirs.id, mine.id) is None
    assert resolve_task_source(mine.id, "mirror") == "mirror"
