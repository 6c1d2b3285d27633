"""`scimsync status --json` and `scimsync dlq list|replay --json` against a running service.

Traffic goes over real HTTP to `scimsync api`; the real worker applies it. One user
takes an email another SCIM user already holds, which no rule lets apply: it
must show up as a dead letter, and replaying it after the IdP fixes the email
must apply it.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.chaos.state import load_state
from tests.e2e.harness import ServiceStack
from tests.e2e.processes import wait_for
from tests.support.workspace import patch_body, user_body


def _status_of(stack: ServiceStack, tenant_id: str) -> dict[str, Any]:
    rows = stack.cli_json("status")
    return next(row for row in rows if row["tenant_id"] == tenant_id)


def test_status_and_dead_letters_after_traffic(stack: ServiceStack) -> None:
    tenant = stack.create_tenant("Globex", "globex.test")
    with httpx.Client(base_url=tenant.scim_url, headers=tenant.scim_headers, timeout=15) as idp:
        for i in range(30):
            assert idp.post("/Users", json=user_body(f"u{i}@globex.test")).status_code == 201
        # A second SCIM user claiming u0's email: the rules refuse to apply it.
        clash = idp.post(
            "/Users",
            json=user_body(
                "clash@globex.test", emails=[{"value": "u0@globex.test", "primary": True}]
            ),
        )
        assert clash.status_code == 201, clash.text
        clash_id = clash.json()["id"]

        wait_for(
            lambda: stack.cli_json("dlq", "list")[0]["resource_id"] == clash_id,
            timeout=60,
            message="the clashing user in the dead-letter list",
        )
        dead = stack.cli_json("dlq", "list")
        assert [(d["tenant_id"], d["resource_type"], d["error_code"]) for d in dead] == [
            (tenant.id, "User", "email_conflict")
        ]
        wait_for(
            lambda: _status_of(stack, tenant.id)["queue_depth"] == 0,
            timeout=60,
            message="an empty queue",
        )
        status = _status_of(stack, tenant.id)
        assert status["name"] == "Globex"
        assert status["dead_letters"] == 1
        assert status["applied_recent"] >= 30
        assert status["oldest_unapplied_age_seconds"] is None
        assert 0 <= status["lag_p50_seconds"] <= status["lag_p99_seconds"] < 30

        fixed = idp.patch(
            f"/Users/{clash_id}",
            json=patch_body(
                {
                    "op": "replace",
                    "path": "emails",
                    "value": [{"value": "clash@globex.test", "primary": True}],
                }
            ),
        )
        assert fixed.status_code in (200, 204), fixed.text

    replayed = stack.cli_json("dlq", "replay")
    assert replayed == {"replayed": 1, "tenants": [tenant.id]}

    def clash_applied() -> bool:
        state = load_state(stack.engine, tenant.id)
        return (
            any(
                m.scim_user_id == clash_id and m.email_ci == "clash@globex.test"
                for m in state.members.values()
            )
            and state.pending_events == 0
        )

    wait_for(clash_applied, timeout=60, message="the replayed user applied")
    assert stack.cli_json("dlq", "list") == []
    assert _status_of(stack, tenant.id)["dead_letters"] == 0
