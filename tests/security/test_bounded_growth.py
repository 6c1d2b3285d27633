"""Issue 16 item 10: nothing a client sends grows without bound. Webhook receipts are
purged after the replay window, an Okta delivery holds a bounded number of events, the
member list is paged, a Bulk request pays one rate-limit token per operation, and
PostgreSQL cancels a statement that runs too long."""

from __future__ import annotations

import json
import os
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text, update
from sqlalchemy.exc import OperationalError

from events.hooks.okta import MAX_OKTA_EVENTS
from events.hooks.routes import SIGNATURE_HEADER, signature_header
from reconciler.ids import new_id
from storage import tenants
from storage.clock import utcnow
from storage.db import unit_of_work
from storage.schema import audit_log, members, webhook_receipts
from tests.support.workspace import (
    TenantHandle,
    issue_okta_secret,
    issue_webhook_secret,
    user_body,
)

BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"


def receipts(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(webhook_receipts.c.event_id)).scalars())


def push(api: Any, tenant: TenantHandle, secret: str, event_id: str) -> int:
    body = json.dumps(
        {"id": event_id, "type": "user.upserted", "data": {"userName": f"{event_id}@acme.test"}}
    ).encode()
    header = signature_header(secret, int(time.time()), body)
    return int(
        api.post(
            f"/hooks/v1/{tenant.id}/events", content=body, headers={SIGNATURE_HEADER: header}
        ).status_code
    )


def test_webhook_receipts_are_purged_after_the_replay_window(
    api: Any, engine: Engine, tenant: TenantHandle
) -> None:
    from worker.celery_app import app
    from worker.tasks import purge_webhook_receipts

    with unit_of_work(engine) as conn:
        secret = issue_webhook_secret(conn, tenant.id)
    for event_id in ("old-1", "old-2", "old-3", "fresh"):
        assert push(api, tenant, secret, event_id) == 200
    with engine.begin() as conn:
        conn.execute(
            update(webhook_receipts)
            .where(webhook_receipts.c.event_id.like("old-%"))
            .values(received_at=utcnow() - timedelta(days=2))
        )
    assert purge_webhook_receipts.run(batch=2) == {"receipts": 3}  # in batches of 2
    assert receipts(engine) == {"fresh"}
    assert push(api, tenant, secret, "fresh") == 200 and receipts(engine) == {"fresh"}
    schedule = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert "scimsync.purge_webhook_receipts" in schedule


def test_an_okta_delivery_holds_a_bounded_number_of_events(
    api: Any, engine: Engine, tenant: TenantHandle
) -> None:
    with unit_of_work(engine) as conn:
        secret = issue_okta_secret(conn, tenant.id)

    def deliver(count: int, prefix: str) -> Any:
        events = [{"uuid": f"{prefix}{n}", "eventType": "user.session.start"} for n in range(count)]
        return api.post(
            f"/hooks/v1/{tenant.id}/okta",
            json={"data": {"events": events}},
            headers={"Authorization": secret},
        )

    refused = deliver(MAX_OKTA_EVENTS + 1, "x")
    assert refused.status_code == 400 and str(MAX_OKTA_EVENTS) in refused.text
    assert receipts(engine) == set()
    with engine.connect() as conn:
        notes = conn.execute(
            select(func.count())
            .select_from(audit_log)
            .where(audit_log.c.actor == "okta_event_hook")
        ).scalar_one()
    assert notes == 0
    assert deliver(MAX_OKTA_EVENTS, "y").json()["ignored"] == MAX_OKTA_EVENTS


def test_the_member_list_is_paged(api: Any, engine: Engine, tenant: TenantHandle) -> None:
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(
            members.insert(),
            [
                {
                    "tenant_id": tenant.id,
                    "id": new_id(),
                    "email": f"p{n:04d}@acme.test",
                    "email_ci": f"p{n:04d}@acme.test",
                    "status": "active",
                    "role": "member",
                    "has_password": False,
                    "created_at": now,
                    "updated_at": now,
                }
                for n in range(230)
            ],
        )
    url = f"/api/v1/workspaces/{tenant.id}/members"
    first = api.get(url, headers=tenant.admin_headers).json()
    assert len(first["members"]) == 100 and first["next_after"]
    assert first["counts"]["active"] >= 230  # the tab sizes stay whole-workspace
    seen, after = [], None
    while True:
        page = api.get(
            url,
            params={"limit": 64, **({"after": after} if after else {})},
            headers=tenant.admin_headers,
        ).json()
        seen += [m["email"] for m in page["members"]]
        after = page["next_after"]
        if after is None:
            break
    assert seen == sorted(seen) and len(seen) == len(set(seen)) == sum(first["counts"].values())
    too_many = api.get(url, params={"limit": 100_000}, headers=tenant.admin_headers)
    assert too_many.status_code == 400


def test_a_bulk_request_pays_one_token_per_operation(
    api: Any, engine: Engine, tenant: TenantHandle
) -> None:
    with unit_of_work(engine) as conn:
        tenants.set_options(
            conn, tenant.id, {"rate_limit_per_second": 0.01, "rate_limit_burst": 12}
        )

    def bulk(prefix: str, count: int) -> Any:
        operations = [
            {
                "method": "POST",
                "path": "/Users",
                "bulkId": f"{prefix}{n}",
                "data": user_body(f"{prefix}{n}@acme.test"),
            }
            for n in range(count)
        ]
        return api.post(
            f"{tenant.scim_base}/Bulk",
            json={"schemas": [BULK], "Operations": operations},
            headers=tenant.scim_headers,
        )

    assert bulk("a", 8).status_code == 200  # 8 of the 12 tokens
    refused = bulk("b", 8)  # 4 left: one per operation, not one per request
    assert refused.status_code == 429, refused.text
    assert float(refused.headers["Retry-After"]) > 0
    found = api.get(
        f"{tenant.scim_base}/Users",
        params={"filter": 'userName sw "b"'},
        headers=tenant.scim_headers,
    )
    assert found.status_code == 429 or found.json()["totalResults"] == 0  # nothing applied


@pytest.mark.skipif(
    not os.environ.get("SCIMSYNC_DATABASE_URL", "").startswith("postgresql"),
    reason="statement_timeout is PostgreSQL's",
)
def test_postgres_cancels_a_statement_running_past_the_timeout(
    service_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import _clear_caches
    from worker.connections import get_engine

    monkeypatch.setenv("SCIMSYNC_DATABASE_STATEMENT_TIMEOUT_SECONDS", "0.3")
    _clear_caches()
    engine = get_engine()
    started = time.monotonic()
    with pytest.raises(OperationalError, match="statement timeout"), engine.connect() as conn:
        conn.execute(text("SELECT pg_sleep(5)"))
    assert time.monotonic() - started < 3
    with engine.connect() as conn:
        assert conn.execute(text("SHOW statement_timeout")).scalar_one() == "300ms"
