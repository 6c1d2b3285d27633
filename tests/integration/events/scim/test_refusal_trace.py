"""A write the ingest refuses is kept for the provisioning trace (events/refusal_trace.py):
one audit row per refused PUT/PATCH/DELETE of a known resource, written after the answer,
never for an unauthenticated caller, a create, or a read; and the answer is unchanged."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from storage.schema import audit_log
from tests.support.workspace import TenantHandle, make_tenant, patch_body, user_body


def refusals(engine: Any) -> list[Any]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(audit_log).where(audit_log.c.action == "ingest_refusal").order_by(audit_log.c.id)
        )
        return list(rows)


def test_a_refused_patch_and_put_are_kept_with_status_type_and_request(
    api: Any, engine: Any, service_env: Any
) -> None:
    tenant = make_tenant(engine, idp="okta")
    h, base = tenant.scim_headers, tenant.scim_base
    alice = api.post(f"{base}/Users", json=user_body("alice@acme.test"), headers=h).json()["id"]
    api.post(f"{base}/Users", json=user_body("bob@acme.test"), headers=h)
    clash = patch_body({"op": "replace", "path": "userName", "value": "BOB@acme.test"})
    answer = api.patch(f"{base}/Users/{alice}", json=clash, headers={**h, "X-Request-Id": "req-1"})
    assert answer.status_code == 409 and answer.json()["scimType"] == "uniqueness"
    stale = api.put(
        f"{base}/Users/{alice}",
        json=user_body("alice@acme.test"),
        headers={**h, "If-Match": 'W/"999"', "X-Request-Id": "req-2"},
    )
    assert stale.status_code == 412, stale.text
    kept = refusals(engine)
    assert [(r.actor, r.target, r.detail["status"]) for r in kept] == [
        ("idp", f"refused_user:{alice}", 409),
        ("idp", f"refused_user:{alice}", 412),
    ]
    first = kept[0].detail
    assert first["request_id"] == "req-1" and first["method"] == "PATCH"
    assert first["scim_type"] == "uniqueness" and first["path"] == f"/scim/v2/Users/{alice}"
    assert tenant.id not in first["path"] and "BOB@acme.test" not in str(first.get("body", ""))


def test_strangers_creates_and_other_tenants_paths_leave_nothing(
    api: Any, engine: Any, service_env: Any
) -> None:
    tenant: TenantHandle = make_tenant(engine)
    other = make_tenant(engine, name="Other", domains=("other.test",), owner_email=None)
    h, base = tenant.scim_headers, tenant.scim_base
    alice = api.post(f"{base}/Users", json=user_body("alice@acme.test"), headers=h).json()["id"]
    bad = patch_body({"op": "replace", "path": "active", "value": "not a boolean"})
    # no token, a wrong token, another tenant's token on this tenant's path
    for headers in ({}, {"Authorization": "Bearer nope"}, other.scim_headers):
        refused = api.patch(f"{base}/Users/{alice}", json=bad, headers=headers)
        assert refused.status_code in (401, 403, 404), refused.text
    # a refused create names no stored resource; a read is no change
    dup = api.post(f"{base}/Users", json=user_body("alice@acme.test"), headers=h)
    assert dup.status_code == 409
    assert api.get(f"{base}/Users/nope", headers=h).status_code == 404
    assert refusals(engine) == []
    assert api.patch(f"{base}/Users/{alice}", json=bad, headers=h).status_code == 400
    assert [r.target for r in refusals(engine)] == [f"refused_user:{alice}"]
