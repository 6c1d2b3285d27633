"""One person's life through the service, as the provisioning-trace tests tell it.

Alice is created by the IdP (with a password), added to a group, deactivated,
reactivated, then the IdP tries to give her Bob's userName (answered 409 at once) and to
move her onto Bob's address (accepted, then refused by the worker: one member per email)
and puts her own address back; someone then changes her status behind SCIM's back
and a full reconcile repairs it. Every step goes through the app's HTTP routes, the
worker's drain and the reconcile job, as in production.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, update

from storage.schema import members
from tests.support.workspace import TenantHandle, group_body, make_tenant, patch_body, user_body
from worker.pipeline import drain
from worker.reconcile_jobs import run_reconcile

# What each step must be called in the timeline, in order (substrings of entries' text).
STEPS = [
    ("request", "POST"),
    ("workspace", "joined the workspace as active"),
    ("request", "added to group 'Sales'"),
    ("workspace", "joined group 'Sales (SCIM)'"),
    ("request", "active: true → false"),
    ("workspace", "deactivated"),
    ("request", "active: false → true"),
    ("workspace", "reactivated as active"),
    ("refused", "PATCH /scim/v2/Users/"),  # answered 409 at once: userName taken by Bob
    ("request", "emails: alice@acme.test → bob@acme.test"),
    ("refused", "the email address already belongs to another member"),
    ("request", "emails: bob@acme.test → alice@acme.test"),
    ("reconcile", "reactivated as active"),
]


@dataclass
class Story:
    tenant: TenantHandle
    alice: str  # her SCIM id
    group: str
    password: str


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def tell(api: Any, engine: Engine) -> Story:
    tenant = make_tenant(engine, idp="okta")
    h, base = tenant.scim_headers, tenant.scim_base
    password = f"Pw-{uuid.uuid4().hex}"

    def settle() -> None:
        drain(engine, tenant.id, batch_size=100, time_budget=30)

    alice = _ok(
        api.post(
            f"{base}/Users",
            json=user_body("alice@acme.test", password=password, externalId="00u-alice"),
            headers={**h, "X-Request-Id": "req-create-alice"},
        ),
        201,
    )["id"]
    _ok(api.post(f"{base}/Users", json=user_body("bob@acme.test"), headers=h), 201)
    group = _ok(api.post(f"{base}/Groups", json=group_body("Sales"), headers=h), 201)["id"]
    settle()
    add = patch_body({"op": "add", "path": "members", "value": [{"value": alice}]})
    _ok(api.patch(f"{base}/Groups/{group}", json=add, headers=h))
    settle()
    for active in (False, True):
        flip = patch_body({"op": "replace", "path": "active", "value": active})
        _ok(api.patch(f"{base}/Users/{alice}", json=flip, headers=h))
        settle()
    clash = patch_body({"op": "replace", "path": "userName", "value": "bob@acme.test"})
    refused = api.patch(
        f"{base}/Users/{alice}", json=clash, headers={**h, "X-Request-Id": "req-clash-alice"}
    )
    assert refused.status_code == 409, refused.text  # Bob has that userName: nothing changes
    for email in ("bob@acme.test", "alice@acme.test"):
        move = patch_body(
            {"op": "replace", "path": "emails", "value": [{"value": email, "primary": True}]}
        )
        _ok(api.patch(f"{base}/Users/{alice}", json=move, headers=h))
        settle()
    with engine.begin() as conn:  # drift: someone deactivates her in the workspace directly
        conn.execute(
            update(members)
            .where(members.c.tenant_id == tenant.id, members.c.scim_user_id == alice)
            .values(status="deactivated", status_before_deactivation="active")
        )
    assert run_reconcile(tenant.id)["outcome"] == "repaired"
    return Story(tenant, alice, group, password)


def assert_story(entries: list[dict[str, Any]]) -> None:
    """Each step appears, with a cause, in the order it happened."""
    position = 0
    for kind, text in STEPS:
        for index in range(position, len(entries)):
            entry = entries[index]
            if entry["kind"] == kind and text in entry["what"]:
                position = index + 1
                break
        else:
            shown = "\n".join(f"{e['kind']}: {e['what']} | {e['cause']}" for e in entries)
            raise AssertionError(f"no {kind} entry {text!r} after position {position}:\n{shown}")
        if kind != "request":
            assert entries[position - 1]["cause"], entries[position - 1]
