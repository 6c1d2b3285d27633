"""Concurrent SCIM writes share one transaction (group commit) and each keeps its answer:
what an IdP sees is what it would see if each write had committed alone."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine, func, select, text

from events.app import build_runtime, create_app
from events.runtime import Runtime
from storage.db import is_sqlite, unit_of_work
from storage.schema import change_events, mirror_users
from tests.support.workspace import TenantHandle, make_tenant, user_body
from worker.settings import get_settings


@pytest.fixture
def served(service_env: Any, engine: Engine, redis_client: Any) -> Iterator[tuple[str, Runtime]]:
    """The app on a real socket, with its runtime at hand (to see the batches it made)."""
    runtime = build_runtime(get_settings())
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(runtime), host="127.0.0.1", port=port, log_config=None, access_log=False
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", runtime
    server.should_exit = True
    thread.join(timeout=10)


def _wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def _count(engine: Engine, table: Any, tenant_id: str) -> int:
    with engine.connect() as conn:
        query = select(func.count()).select_from(table).where(table.c.tenant_id == tenant_id)
        return int(conn.execute(query).scalar_one())


def test_creates_that_arrive_together_commit_together_and_a_repeat_still_gets_409(
    served: tuple[str, Runtime], engine: Engine
) -> None:
    base_url, runtime = served
    tenant: TenantHandle = make_tenant(engine)
    names = [f"user{n}@acme.test" for n in range(5)]
    bodies = [user_body(name) for name in names] + [user_body(names[0])]  # a retried create
    pool = ThreadPoolExecutor(len(bodies))

    def post(body: dict[str, Any]) -> httpx.Response:
        return httpx.post(
            f"{base_url}{tenant.scim_base}/Users",
            json=body,
            headers=tenant.scim_headers,
            timeout=30,
        )

    # Another transaction holds the writers back while the requests arrive: the first
    # leads a batch of its own and waits; the other five queue and share the next one.
    with unit_of_work(engine) as conn:
        if not is_sqlite(engine):
            conn.execute(text("LOCK TABLE change_events IN EXCLUSIVE MODE"))
        first = pool.submit(post, bodies[0])
        _wait_until(lambda: runtime.writes.leading)  # the first leads, waiting on the lock
        rest = [pool.submit(post, body) for body in bodies[1:]]
        _wait_until(lambda: runtime.writes.queued() == len(rest))
    answers = [first.result(), *(f.result() for f in rest)]

    assert [a.status_code for a in answers] == [201, 201, 201, 201, 201, 409], [
        a.text for a in answers
    ]
    assert answers[-1].json()["scimType"] == "uniqueness"
    assert runtime.writes.largest_batch == 5
    for answer in answers[:5]:  # each 201 is durable and readable, with its own id
        path = urlsplit(answer.headers["Location"]).path
        got = httpx.get(f"{base_url}{path}", headers=tenant.scim_headers, timeout=10)
        assert got.status_code == 200 and got.json()["id"] == answer.json()["id"]
    assert _count(engine, mirror_users, tenant.id) == 5
    assert _count(engine, change_events, tenant.id) == 5  # no event for the refused repeat
