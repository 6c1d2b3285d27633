"""Correctly signed but adversarial webhook deliveries: canonical events and Okta Event
Hooks with random types and data. No 5xx; a refused delivery changes nothing."""

from __future__ import annotations

import json
import time
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from events.hooks.canonical import EventType
from events.hooks.routes import signature_header
from storage import tenants
from storage.db import unit_of_work
from tests.security.conftest import assert_no_leak, row_counts
from tests.support.workspace import TenantHandle, issue_okta_secret, issue_webhook_secret
from worker.connections import get_sealer

texts = st.one_of(
    st.text(max_size=30),
    st.emails(),
    st.sampled_from(["a@acme.test", "", " ", "x" * 400, "\u202e@acme.test", "a%_@acme.test"]),
)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**20), max_value=10**20), texts
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=10,
)
refs = st.fixed_dictionaries(
    {}, optional={"userName": texts, "externalId": texts, "displayName": texts}
)
data = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "userName": texts,
            "externalId": texts,
            "displayName": texts,
            "active": scalars,
            "password": texts,
            "emails": json_values,
            "members": st.lists(refs, max_size=3),
            "group": refs,
            "name": json_values,
        },
    ),
    st.dictionaries(texts, json_values, max_size=4),
)
events = st.fixed_dictionaries(
    {
        "id": st.one_of(st.text(min_size=1, max_size=20), st.text(max_size=300)),
        "type": st.one_of(st.sampled_from([t.value for t in EventType]), st.text(max_size=20)),
        "data": data,
    },
    optional={"occurred_at": st.one_of(texts, st.just("2024-05-01T12:00:00Z"))},
)
deliveries = st.one_of(
    events,
    st.fixed_dictionaries({"events": st.lists(events, max_size=4)}),
    st.dictionaries(texts, json_values, max_size=3),
)
okta_events = st.lists(
    st.fixed_dictionaries(
        {
            "uuid": st.text(min_size=1, max_size=12),
            "eventType": st.sampled_from(
                [
                    "user.lifecycle.create",
                    "user.lifecycle.deactivate",
                    "user.lifecycle.delete.initiated",
                    "group.user_membership.add",
                    "user.account.update_profile",
                    "x",
                ]
            ),
            "target": st.lists(
                st.fixed_dictionaries(
                    {
                        "id": st.text(min_size=1, max_size=8),
                        "type": st.sampled_from(["User", "UserGroup", "?"]),
                    },
                    optional={"alternateId": texts, "displayName": texts},
                ),
                max_size=3,
            ),
        }
    ),
    max_size=3,
)


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(delivery=deliveries, okta=okta_events)
def test_signed_garbage_never_fails_the_service(
    api: Any, engine: Engine, tenant: TenantHandle, delivery: Any, okta: list[Any]
) -> None:
    with unit_of_work(engine) as conn:
        secrets = tenants.webhook_secrets(conn, tenant.id, get_sealer())
        secret = secrets[0] if secrets else issue_webhook_secret(conn, tenant.id)
        okta_secret = issue_okta_secret(conn, tenant.id)
    body = json.dumps(delivery).encode()
    before = row_counts(engine)
    pushed = api.post(
        f"/hooks/v1/{tenant.id}/events",
        content=body,
        headers={
            "X-Scimsync-Signature": signature_header(secret, int(time.time()), body),
            "Content-Type": "application/json",
        },
    )
    assert pushed.status_code < 500, pushed.text
    assert_no_leak(pushed.text, sent=body.decode())
    if pushed.status_code >= 400:
        assert row_counts(engine) == before
    hooked = api.post(
        f"/hooks/v1/{tenant.id}/okta",
        headers={"Authorization": okta_secret},
        json={"data": {"events": okta}},
    )
    assert hooked.status_code < 500, hooked.text
    assert_no_leak(hooked.text, sent=json.dumps(okta))
