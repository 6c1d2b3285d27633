"""Every SCIM write leaves an audit row naming the token that made it, in the same
transaction as the write; refused and no-op requests leave none. Readable through the
admin API's audit endpoint."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner
from sqlalchemy import Engine, select

from storage.schema import api_tokens, audit_log, change_events
from tests.support.workspace import TenantHandle, group_body, patch_body, user_body
from worker.cli.main import main as scimsync
from worker.pipeline import drain

BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"


def scim_token_ids(engine: Engine, tenant_id: str) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(api_tokens.c.id)
                .where(api_tokens.c.tenant_id == tenant_id, api_tokens.c.kind == "scim")
                .order_by(api_tokens.c.created_at)
            ).scalars()
        )


def audit_rows(engine: Engine, tenant_id: str) -> list[tuple[str, str, str | None]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(audit_log.c.actor, audit_log.c.action, audit_log.c.target)
            .where(audit_log.c.tenant_id == tenant_id)
            .order_by(audit_log.c.id)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


def test_each_scim_write_is_audited_with_its_token(
    api: Any, engine: Engine, tenant: TenantHandle
) -> None:
    base, headers = tenant.scim_base, tenant.scim_headers
    (token_id,) = scim_token_ids(engine, tenant.id)
    user = api.post(f"{base}/Users", json=user_body("a@acme.test"), headers=headers).json()
    group = api.post(f"{base}/Groups", json=group_body("G", [user["id"]]), headers=headers).json()
    api.put(
        f"{base}/Users/{user['id']}", json=user_body("a@acme.test", title="CTO"), headers=headers
    )
    api.patch(
        f"{base}/Groups/{group['id']}",
        headers=headers,
        json=patch_body({"op": "replace", "path": "displayName", "value": "H"}),
    )
    api.delete(f"{base}/Groups/{group['id']}", headers=headers)
    api.delete(f"{base}/Users/{user['id']}", headers=headers)
    assert audit_rows(engine, tenant.id) == [
        (token_id, "scim_create_user", f"scim_user:{user['id']}"),
        (token_id, "scim_create_group", f"scim_group:{group['id']}"),
        (token_id, "scim_replace_user", f"scim_user:{user['id']}"),
        (token_id, "scim_patch_group", f"scim_group:{group['id']}"),
        (token_id, "scim_delete_group", f"scim_group:{group['id']}"),
        (token_id, "scim_delete_user", f"scim_user:{user['id']}"),
    ]
    with engine.connect() as conn:
        events = conn.execute(
            select(change_events.c.id, change_events.c.version)
            .where(change_events.c.tenant_id == tenant.id)
            .order_by(change_events.c.id)
        ).all()
        details = conn.execute(
            select(audit_log.c.detail)
            .where(audit_log.c.tenant_id == tenant.id)
            .order_by(audit_log.c.id)
        ).scalars()
        details = list(details)
        # Each row names the change event it records, and the version that event wrote...
        assert [{k: d[k] for k in ("event_id", "version")} for d in details] == [
            {"event_id": e.id, "version": e.version} for e in events
        ]
        # ... and the request that made it (the provisioning trace shows it), no more.
        methods = ["POST", "POST", "PUT", "PATCH", "DELETE", "DELETE"]
        assert [d["method"] for d in details] == methods
        for d in details:
            assert set(d) == {"event_id", "version", "request_id", "method", "path", "idp"}
            assert d["path"].startswith(f"/scim/v2/{tenant.id}/") and d["request_id"]


def test_refused_and_no_op_writes_are_not_audited(
    api: Any, engine: Engine, tenant: TenantHandle
) -> None:
    base, headers = tenant.scim_base, tenant.scim_headers
    user = api.post(f"{base}/Users", json=user_body("a@acme.test"), headers=headers).json()
    before = audit_rows(engine, tenant.id)
    assert (
        api.post(f"{base}/Users", json=user_body("a@acme.test"), headers=headers).status_code == 409
    )
    assert (
        api.patch(
            f"{base}/Users/{user['id']}",
            headers=headers,
            json=patch_body({"op": "replace", "path": "active", "value": True}),
        ).status_code
        == 200
    )  # no change
    assert api.delete(f"{base}/Users/nope", headers=headers).status_code == 404
    assert api.get(f"{base}/Users", headers=headers).status_code == 200
    assert audit_rows(engine, tenant.id) == before


def test_bulk_audits_the_operations_that_applied(
    api: Any, engine: Engine, tenant: TenantHandle
) -> None:
    response = api.post(
        f"{tenant.scim_base}/Bulk",
        headers=tenant.scim_headers,
        json={
            "schemas": [BULK],
            "Operations": [
                {
                    "method": "POST",
                    "path": "/Users",
                    "bulkId": "u",
                    "data": user_body("b@acme.test"),
                },
                {"method": "DELETE", "path": "/Users/missing"},
                {
                    "method": "POST",
                    "path": "/Groups",
                    "bulkId": "g",
                    "data": group_body("G", ["bulkId:u"]),
                },
            ],
        },
    )
    assert [op["status"] for op in response.json()["Operations"]] == ["201", "404", "201"]
    assert [action for _, action, _ in audit_rows(engine, tenant.id)] == [
        "scim_create_user",
        "scim_create_group",
    ]


def test_the_actor_follows_token_rotation(api: Any, engine: Engine, tenant: TenantHandle) -> None:
    api.post(
        f"{tenant.scim_base}/Users", json=user_body("a@acme.test"), headers=tenant.scim_headers
    )
    rotated = CliRunner().invoke(scimsync, ["scim", "rotate-token", tenant.id, "--json"])
    token = json.loads(rotated.output)["token"]
    api.post(
        f"{tenant.scim_base}/Users",
        json=user_body("b@acme.test"),
        headers={"Authorization": f"Bearer {token}"},
    )
    old_id, new_id = scim_token_ids(engine, tenant.id)
    scim_writes = [row for row in audit_rows(engine, tenant.id) if row[1].startswith("scim_")]
    assert [actor for actor, _, _ in scim_writes] == [old_id, new_id]
    assert ("cli", "rotate_scim_token", f"tenant:{tenant.id}") in audit_rows(engine, tenant.id)


def test_scim_writes_and_what_the_worker_did_are_readable_by_the_admin(
    api: Any, engine: Engine, tenant: TenantHandle
) -> None:
    user = api.post(
        f"{tenant.scim_base}/Users", json=user_body("a@acme.test"), headers=tenant.scim_headers
    ).json()
    drain(engine, tenant.id, batch_size=500, time_budget=5)
    listed = api.get(f"/api/v1/workspaces/{tenant.id}/audit", headers=tenant.admin_headers)
    assert listed.status_code == 200, listed.text
    entries = listed.json()["entries"]
    (token_id,) = scim_token_ids(engine, tenant.id)
    assert {
        "actor": token_id,
        "action": "scim_create_user",
        "target": f"scim_user:{user['id']}",
    }.items() <= next(e for e in entries if e["action"] == "scim_create_user").items()
    assert any(e["actor"] != token_id for e in entries)  # the worker's repair is there too
    other = api.get(f"/api/v1/workspaces/{tenant.id}/audit", headers=tenant.scim_headers)
    assert other.status_code == 401
