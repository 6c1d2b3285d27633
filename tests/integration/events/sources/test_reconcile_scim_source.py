"""Full reconcile pulling a real SCIM directory: the scim2-server package, as a process."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from reconciler.errors import InvalidValue
from storage import reconcile_items
from storage.schema import members, reconcile_runs, workspace_groups
from tests.support.workspace import group_body, make_tenant, user_body
from worker.pipeline import drain
from worker.reconcile_jobs import run_reconcile
from worker.settings import get_settings

TOKEN = "directory-token"


@pytest.fixture
def directory() -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    executable = shutil.which("scim2-server") or str(Path(sys.executable).parent / "scim2-server")
    process = subprocess.Popen(
        [executable, "--port", str(port), "--bearer-token", TOKEN],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/ServiceProviderConfig", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    yield url
    process.terminate()
    process.wait(timeout=10)


def test_directory_state_repairs_mirror_and_workspace(
    directory: str, api: Any, engine: Any, service_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    token_file = Path(service_env["SCIMSYNC_VAR_DIR"]).parent / "source-token"
    token_file.write_text(TOKEN + "\n")  # given by a file, never in the URL
    monkeypatch.setenv("SCIMSYNC_RECONCILE_SOURCE_TOKEN_FILE", str(token_file))
    get_settings.cache_clear()
    tenant = make_tenant(engine)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/scim+json"}
    ours = api.post(
        f"{tenant.scim_base}/Users", json=user_body("both@acme.test"), headers=tenant.scim_headers
    ).json()
    api.post(
        f"{tenant.scim_base}/Users", json=user_body("stale@acme.test"), headers=tenant.scim_headers
    )
    drain(engine, tenant.id, batch_size=500, time_budget=30)
    with httpx.Client(base_url=directory, headers=headers) as idp:
        ids = [
            idp.post("/Users", json=user_body(name)).json()["id"]
            for name in ("both@acme.test", "pushlost@acme.test", "other@partner.test")
        ]
        for i in range(250):  # more than one page
            idp.post("/Users", json=user_body(f"bulk{i}@acme.test"))
        idp.post("/Groups", json=group_body("Finance", ids[:2]))
    dry = run_reconcile(tenant.id, source=f"scim:{directory}", dry_run=True)
    report = run_reconcile(tenant.id, source=f"scim:{directory}", force=True)
    assert report["outcome"] == "repaired", report
    assert dry["outcome"] == "drift_found" and dry["counts"] == report["counts"]
    assert all_items(engine, report["run_id"]) == all_items(engine, dry["run_id"])
    # 252 users created, stale@ gone from the directory, the Finance group created
    assert report["counts"]["mirror_repaired"] == 254
    assert report["counts"]["user_removed"] == 1 and report["counts"]["group_created"] == 1
    found = api.get(
        f"{tenant.scim_base}/Users",
        params={"filter": 'userName eq "both@acme.test"'},
        headers=tenant.scim_headers,
    ).json()
    assert found["Resources"][0]["id"] == ours["id"]  # matched by userName, not duplicated
    with engine.connect() as conn:
        emails = {
            r.email_ci: r.status
            for r in conn.execute(
                select(members.c.email_ci, members.c.status).where(members.c.tenant_id == tenant.id)
            )
        }
        groups = {r.name for r in conn.execute(select(workspace_groups.c.name))}
    assert emails["pushlost@acme.test"] == "active"
    assert emails["other@partner.test"] == "pending"
    assert "stale@acme.test" not in emails
    assert "Finance (SCIM)" in groups
    again = run_reconcile(tenant.id, source=f"scim:{directory}")
    assert again["outcome"] == "in_sync" and again["counts"] == {}, again


def all_items(engine: Any, run_id: int) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [
            {k: v for k, v in item.items() if k != "seq"}
            for item in reconcile_items.list_items(conn, run_id, limit=10_000)
        ]


@pytest.mark.parametrize(
    "source",
    [f"scim:http://127.0.0.1:1/scim/v2#token={TOKEN}", "scim:http://u:secret@127.0.0.1:1/v2"],
)
def test_a_token_in_the_source_url_is_refused_before_any_run(
    source: str, engine: Any, service_env: Any
) -> None:
    tenant = make_tenant(engine)
    with pytest.raises(InvalidValue, match="no credentials"):
        run_reconcile(tenant.id, source=source)
    with engine.connect() as conn:
        assert conn.execute(select(reconcile_runs.c.id)).first() is None
