"""Secrets in payloads and credentials: a SCIM password is never stored in clear nor
returned, and no password, token or webhook secret ever reaches a log line."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select

from events.hooks.routes import signature_header
from storage.db import unit_of_work
from storage.event_state import EventState
from storage.schema import change_events, metadata, mirror_users
from tests.e2e.harness import ServiceStack
from tests.e2e.processes import wait_for
from tests.support.workspace import TenantHandle, issue_webhook_secret, patch_body, user_body
from worker.pipeline import drain

BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
APPLY_SUCCEEDED = re.compile(r"Task scimsync\.apply_tenant\[[0-9a-f-]+\] succeeded")


def everything_stored(engine: Engine) -> str:
    """Every row of every table as text, for a plain substring search."""
    with engine.connect() as conn:
        dumps = [
            json.dumps([dict(r._mapping) for r in conn.execute(select(table))], default=str)
            for table in metadata.sorted_tables
        ]
    return "\n".join(dumps)


def test_a_scim_password_is_never_stored_in_clear_nor_returned(
    api: Any, engine: Engine, tenant: TenantHandle
) -> None:
    secrets = [f"Pw-{n}-{uuid.uuid4().hex}" for n in range(8)]
    base, headers = tenant.scim_base, tenant.scim_headers
    responses = []

    def send(method: str, url: str, body: Any, status: int) -> Any:
        response = api.request(method, url, json=body, headers=headers)
        assert response.status_code == status, response.text
        responses.append(response.text)
        return response.json() if response.content else None

    user = send("POST", f"{base}/Users", user_body("pw@acme.test", password=secrets[0]), 201)
    url = f"{base}/Users/{user['id']}"
    send("PUT", url, user_body("pw@acme.test", password=secrets[1]), 200)
    send("PATCH", url, patch_body({"op": "replace", "path": "password", "value": secrets[2]}), 200)
    send("PATCH", url, patch_body({"op": "replace", "value": {"password": secrets[3]}}), 200)
    send(
        "PATCH", url, patch_body({"op": "add", "path": "password", "value": {"x": secrets[4]}}), 400
    )  # refused: the detail must not echo the value either
    send(
        "POST",
        f"{base}/Bulk",
        {
            "schemas": [BULK],
            "Operations": [
                {
                    "method": "POST",
                    "path": "/Users",
                    "bulkId": "b",
                    "data": user_body("bulk@acme.test", password=secrets[5]),
                },
                {
                    "method": "PATCH",
                    "path": f"/Users/{user['id']}",
                    "data": patch_body({"op": "replace", "path": "password", "value": secrets[6]}),
                },
            ],
        },
        200,
    )
    send("POST", f"{base}/Users", user_body("pw@acme.test", password=secrets[7]), 409)
    for attributes in ("password", "userName,password"):
        fetched = api.get(url, params={"attributes": attributes}, headers=headers)
        responses.append(fetched.text)
        assert "password" not in fetched.json()
    responses.append(api.get(f"{base}/Users", headers=headers).text)
    drain(engine, tenant.id, batch_size=500, time_budget=5)  # the workspace side too

    stored = everything_stored(engine)
    for secret in secrets:
        assert secret not in stored
        assert all(secret not in text for text in responses)
    with engine.connect() as conn:
        flags = conn.execute(
            select(mirror_users.c.user_name, mirror_users.c.has_password).order_by(
                mirror_users.c.user_name
            )
        ).all()
    assert [tuple(f) for f in flags] == [("bulk@acme.test", True), ("pw@acme.test", True)]


def test_no_secret_reaches_the_logs(engine: Engine, service_env: dict[str, str]) -> None:
    """A flow carrying passwords, tokens, webhook secrets and the operator token, good and
    bad, and an unexpected error (logged with its traceback), in a fresh interpreter with
    the service's own logging at DEBUG: not one secret appears in what it logs."""
    env = {
        **os.environ,
        **service_env,
        "SCIMSYNC_LOG_LEVEL": "DEBUG",
        "SCIMSYNC_OPERATOR_TOKEN": f"op_{uuid.uuid4().hex}{uuid.uuid4().hex}",
    }
    done = subprocess.run(
        [sys.executable, "-m", "tests.security.log_flow"],
        env=env,
        cwd=Path(__file__).parents[2],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    secrets = json.loads(done.stdout.strip().splitlines()[-1])
    logs = done.stderr
    assert '"unhandled_error"' in logs and "Traceback" in logs  # the logs were captured
    assert len(secrets) == 11
    leaked = [s for s in secrets if s in logs]
    assert leaked == [], f"secrets in logs: {leaked}"


@pytest.mark.slow
def test_no_secret_reaches_the_logs_of_the_real_processes(
    engine: Engine, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    """The same with `scimsync api` and `scimsync worker` as processes (Celery's own
    logging included), over real HTTP."""
    operator = f"op_{uuid.uuid4().hex}{uuid.uuid4().hex}"
    stack = ServiceStack(
        tmp_path / "svc",
        database_url,
        redis_url,
        extra_env={"SCIMSYNC_LOG_LEVEL": "DEBUG", "SCIMSYNC_OPERATOR_TOKEN": operator},
    )
    try:
        tenant = stack.create_tenant("Acme", "acme.test")
        with unit_of_work(engine) as conn:
            secret = issue_webhook_secret(conn, tenant.id)
        stack.start_api()
        stack.start_worker(concurrency=1)
        secrets = [tenant.scim_token, tenant.admin_token, secret, operator]
        secrets += _exercise(
            stack.base_url, tenant.id, tenant.scim_token, tenant.admin_token, secret, operator
        )
        wait_for(
            lambda: _applied_and_logged(stack, tenant.id),
            timeout=60,
            message="the worker applying every event and logging it",
        )
    finally:
        stack.stop_all()
    logs = "\n".join(p.read_text(errors="replace") for p in stack.log_dir.glob("*.log"))
    assert "scimsync.apply_tenant" in logs  # the worker ran and logged
    leaked = [s for s in secrets if s in logs]
    assert leaked == [], f"secrets in logs: {leaked}"


def _applied_and_logged(stack: ServiceStack, tenant_id: str) -> bool:
    """Every event of the tenant applied, and the worker's log says its task succeeded."""
    with stack.engine.connect() as conn:
        states = dict(
            conn.execute(
                select(change_events.c.state, func.count())
                .where(change_events.c.tenant_id == tenant_id)
                .group_by(change_events.c.state)
            ).all()
        )
    worker_log = "\n".join(p.read_text(errors="replace") for p in stack.log_dir.glob("worker*.log"))
    return (
        states.get(EventState.APPLIED, 0) > 0
        and states.get(EventState.PENDING, 0) == 0
        and APPLY_SUCCEEDED.search(worker_log) is not None
    )


def _exercise(
    base: str, tenant_id: str, scim: str, admin: str, webhook: str, operator: str
) -> list[str]:
    """A request flow carrying passwords and tokens, good and bad; the passwords used."""
    passwords = [f"Pw-{n}-{uuid.uuid4().hex}" for n in range(4)]
    guessed = f"scim_{uuid.uuid4().hex}"  # a wrong token is a secret too (a typo of a real one)
    auth = {"Authorization": f"Bearer {scim}"}
    scim_base = f"{base}/scim/v2/{tenant_id}"
    with httpx.Client(timeout=10) as http:
        user = http.post(
            f"{scim_base}/Users",
            headers=auth,
            json=user_body("log@acme.test", password=passwords[0]),
        ).json()
        http.patch(
            f"{scim_base}/Users/{user['id']}",
            headers=auth,
            json=patch_body({"op": "replace", "path": "password", "value": passwords[1]}),
        )
        http.post(
            f"{scim_base}/Users",
            headers=auth,  # refused: invalid, with a password
            json={"userName": 12, "password": passwords[2]},
        )
        http.get(f"{scim_base}/Users", headers={"Authorization": f"Bearer {guessed}"})
        http.get(f"{scim_base}/Users", headers={"Authorization": admin})
        body = json.dumps(
            {
                "id": "e1",
                "type": "user.upserted",
                "data": {"userName": "hook@acme.test", "password": passwords[3]},
            }
        ).encode()
        http.post(
            f"{base}/hooks/v1/{tenant_id}/events",
            content=body,
            headers={"X-Scimsync-Signature": signature_header(webhook, int(time.time()), body)},
        )
        http.post(
            f"{base}/hooks/v1/{tenant_id}/okta",
            headers={"Authorization": webhook},
            json={"data": {"events": []}},
        )
        http.get(
            f"{base}/hooks/v1/{tenant_id}/okta",
            headers={"Authorization": webhook, "X-Okta-Verification-Challenge": "c"},
        )
        http.get(
            f"{base}/api/v1/workspaces/{tenant_id}/members",
            headers={"Authorization": f"Bearer {admin}"},
        )
        http.get(f"{base}/dashboard/api/summary", headers={"Authorization": f"Bearer {operator}"})
        http.post(f"{base}/dashboard/login", data={"token": operator})
        http.get(f"{base}/dashboard/api/summary", headers={"Authorization": f"Bearer {guessed}"})
    return [*passwords, guessed]
