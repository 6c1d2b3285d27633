"""A request flow full of secrets, run in a fresh interpreter so that its log output is
exactly what the service's logging set-up writes to stderr (test_secrets.py reads it).

Usage: SCIMSYNC_* env set, `python -m tests.security.log_flow`; prints the secrets it
used as one JSON list on stdout; everything logged goes to stderr.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from fastapi.testclient import TestClient

from events.app import create_app
from events.hooks.routes import signature_header
from storage import mirror
from storage.db import unit_of_work
from tests.support.workspace import (
    issue_okta_secret,
    issue_webhook_secret,
    make_tenant,
    patch_body,
    user_body,
)
from worker.connections import get_engine
from worker.pipeline import drain
from worker.settings import get_settings


def _fail(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("simulated database failure")


def main() -> None:
    engine = get_engine()
    tenant = make_tenant(engine)
    with unit_of_work(engine) as conn:
        hook_secret = issue_webhook_secret(conn, tenant.id)
        okta_secret = issue_okta_secret(conn, tenant.id)
    passwords = [f"Pw-{n}-{uuid.uuid4().hex}" for n in range(5)]
    guessed = f"scim_{uuid.uuid4().hex}"  # a mistyped token is as secret as the real one
    scim, base = tenant.scim_headers, tenant.scim_base
    client = TestClient(create_app(), raise_server_exceptions=False)

    user = client.post(
        f"{base}/Users", headers=scim, json=user_body("log@acme.test", password=passwords[0])
    ).json()
    client.patch(
        f"{base}/Users/{user['id']}",
        headers=scim,
        json=patch_body({"op": "replace", "path": "password", "value": passwords[1]}),
    )
    client.post(f"{base}/Users", headers=scim, json={"userName": 12, "password": passwords[2]})
    client.get(f"{base}/Users", headers={"Authorization": f"Bearer {guessed}"})
    client.get(f"{base}/Users", headers={"Authorization": tenant.admin_token})
    real_insert, mirror.insert_user = mirror.insert_user, _fail  # an unexpected error: a 500
    client.post(f"{base}/Users", headers=scim, json=user_body("x@acme.test", password=passwords[3]))
    mirror.insert_user = real_insert
    body = json.dumps(
        {
            "id": "e1",
            "type": "user.upserted",
            "data": {"userName": "hook@acme.test", "password": passwords[4]},
        }
    ).encode()
    client.post(
        f"/hooks/v1/{tenant.id}/events",
        content=body,
        headers={"X-Scimsync-Signature": signature_header(hook_secret, int(time.time()), body)},
    )
    client.post(
        f"/hooks/v1/{tenant.id}/events",
        content=body,
        headers={"X-Scimsync-Signature": signature_header(guessed, int(time.time()), body)},
    )
    client.post(
        f"/hooks/v1/{tenant.id}/okta",
        headers={"Authorization": okta_secret},
        json={
            "data": {
                "events": [
                    {
                        "uuid": "u1",
                        "eventType": "user.lifecycle.create",
                        "target": [{"id": "00u1", "type": "User", "alternateId": "okta@acme.test"}],
                    }
                ]
            }
        },
    )
    client.get(f"/api/v1/workspaces/{tenant.id}/members", headers=tenant.admin_headers)
    client.get(
        f"/api/v1/workspaces/{tenant.id}/members", headers={"Authorization": f"Bearer {guessed}"}
    )
    operator = get_settings().operator_token or ""
    for token in (operator, guessed):
        client.get("/dashboard/api/summary", headers={"Authorization": f"Bearer {token}"})
    client.post("/dashboard/login", data={"token": operator})
    drain(engine, tenant.id, batch_size=500, time_budget=5)
    secrets = [
        tenant.scim_token,
        tenant.admin_token,
        hook_secret,
        okta_secret,
        guessed,
        operator,
        *passwords,
    ]
    print(json.dumps(secrets))


if __name__ == "__main__":
    main()
