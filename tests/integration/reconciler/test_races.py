"""Races an IdP really causes: the same user created twice at once, and a membership that
arrives while its user is still being created and applied.

Requests go through the HTTP app from several threads at once (the app's sync routes
run in a thread pool, each in its own transaction); a worker thread drains the
tenant's events meanwhile, as a Celery worker would.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, func, select

from events.hooks.routes import SIGNATURE_HEADER, signature_header
from storage.db import unit_of_work
from storage.schema import mirror_users
from tests.integration.events.ingest.dialects.replay import workspace_state
from tests.support.workspace import (
    TenantHandle,
    group_body,
    issue_webhook_secret,
    make_tenant,
    patch_body,
    user_body,
)
from worker.pipeline import TenantBusy, drain


def _all_at_once(count: int, call: Callable[[int], Any]) -> list[Any]:
    start = threading.Barrier(count)

    def run(index: int) -> Any:
        start.wait()
        return call(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def _drain_all(engine: Engine, tenant_id: str) -> None:
    result = drain(engine, tenant_id, batch_size=500, time_budget=30)
    assert not result.dead, [(e.resource_type, e.resource_id) for e in result.dead]
    assert not result.failed and not result.more


@contextmanager
def _worker(engine: Engine, tenant_id: str) -> Iterator[None]:
    """Drain the tenant continuously in a thread until the block ends."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def loop() -> None:
        while not stop.is_set():
            try:
                result = drain(engine, tenant_id, batch_size=50, time_budget=1)
                assert not result.dead, [(e.resource_type, e.resource_id) for e in result.dead]
            except TenantBusy:
                pass
            except BaseException as exc:  # surfaced in the test thread below
                errors.append(exc)
                return
            time.sleep(0.01)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not errors, errors


def test_concurrent_creates_of_one_user_make_exactly_one(api: Any, engine: Engine) -> None:
    tenant = make_tenant(engine, idp="okta")
    body = user_body("dup@acme.test", password="Pa55word!", groups=[])

    responses = _all_at_once(
        8, lambda _: api.post(f"{tenant.scim_base}/Users", json=body, headers=tenant.scim_headers)
    )

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 7, [r.text for r in responses if r.status_code != 409]
    assert all(r.json()["scimType"] == "uniqueness" for r in responses if r.status_code == 409)
    with unit_of_work(engine, write=False) as conn:
        rows = conn.execute(
            select(func.count())
            .select_from(mirror_users)
            .where(mirror_users.c.tenant_id == tenant.id)
        ).scalar_one()
    assert rows == 1
    _drain_all(engine, tenant.id)
    members = workspace_state(engine, tenant.id)["members"]
    assert members["dup@acme.test"] == {"status": "active", "groups": []}
    assert len(members) == 2  # and the Owner


def _create_then_join(api: Any, tenant: TenantHandle, group_id: str, index: int) -> list[int]:
    created = api.post(
        f"{tenant.scim_base}/Users",
        json=user_body(f"u{index}@acme.test"),
        headers=tenant.scim_headers,
    )
    joined = api.patch(
        f"{tenant.scim_base}/Groups/{group_id}",
        json=patch_body(
            {"op": "add", "path": "members", "value": [{"value": created.json().get("id")}]}
        ),
        headers=tenant.scim_headers,
    )
    return [created.status_code, joined.status_code]


def test_membership_adds_racing_their_users_creation_and_apply(api: Any, engine: Engine) -> None:
    tenant = make_tenant(engine, idp="okta")
    group = api.post(
        f"{tenant.scim_base}/Groups", json=group_body("Crew", []), headers=tenant.scim_headers
    ).json()
    people = 12

    with _worker(engine, tenant.id):
        outcomes = _all_at_once(people, lambda i: _create_then_join(api, tenant, group["id"], i))

    assert outcomes == [[201, 200]] * people
    _drain_all(engine, tenant.id)
    state = workspace_state(engine, tenant.id)
    assert {email: m["groups"] for email, m in state["members"].items() if email[0] == "u"} == {
        f"u{i}@acme.test": ["Crew (SCIM)"] for i in range(people)
    }
    listed = api.get(f"{tenant.scim_base}/Groups/{group['id']}", headers=tenant.scim_headers)
    assert len(listed.json()["members"]) == people


def test_webhook_membership_and_user_pushed_at_the_same_moment(api: Any, engine: Engine) -> None:
    tenant = make_tenant(engine)
    with unit_of_work(engine) as conn:
        secret = issue_webhook_secret(conn, tenant.id)
    people = 6

    def push(index: int) -> int:
        person, kind = f"p{index // 2}@acme.test", index % 2
        event = (
            {
                "id": f"user-{person}",
                "type": "user.upserted",
                "data": {"userName": person, "displayName": person.split("@")[0]},
            }
            if kind == 0
            else {
                "id": f"join-{person}",
                "type": "group.members_added",
                "data": {
                    "group": {"displayName": "Night shift"},
                    "members": [{"userName": person}],
                },
            }
        )
        body = json.dumps(event).encode()
        response = api.post(
            f"/hooks/v1/{tenant.id}/events",
            content=body,
            headers={SIGNATURE_HEADER: signature_header(secret, int(time.time()), body)},
        )
        return int(response.status_code)

    with _worker(engine, tenant.id):
        statuses = _all_at_once(people * 2, push)

    assert statuses == [200] * (people * 2)
    _drain_all(engine, tenant.id)
    state = workspace_state(engine, tenant.id)
    assert state["groups"] == ["Night shift (SCIM)"]
    assert {email: m["groups"] for email, m in state["members"].items() if email[0] == "p"} == {
        f"p{i}@acme.test": ["Night shift (SCIM)"] for i in range(people)
    }


def test_jumpcloud_pushing_one_group_twice_at_once_makes_one_group(
    api: Any, engine: Engine
) -> None:
    tenant = make_tenant(engine, idp="jumpcloud")

    responses = _all_at_once(
        4,
        lambda _: api.post(
            f"{tenant.scim_base}/Groups", json=group_body("Design", []), headers=tenant.scim_headers
        ),
    )

    assert [r.status_code for r in responses] == [201] * 4
    assert len({r.json()["id"] for r in responses}) == 1  # the later ones adopted the first
    _drain_all(engine, tenant.id)
    assert workspace_state(engine, tenant.id)["groups"] == ["Design (SCIM)"]
