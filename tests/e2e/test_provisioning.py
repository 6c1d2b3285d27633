"""An IdP provisions users and a group over real HTTP; the real worker applies them.

Processes: `scimsync api` (uvicorn), `scimsync worker`, `scimsync beat`, a private
redis-server, and the test's database (tests/e2e/conftest.py).
"""

from __future__ import annotations

import httpx

from storage.event_state import EventState
from tests.chaos.state import State, load_state
from tests.e2e.harness import ServiceStack
from tests.e2e.processes import wait_for
from tests.support.workspace import group_body, patch_body, user_body


def _members_by_email(state: State) -> dict[str, str]:
    return {m.email_ci: m.status for m in state.members.values() if m.scim_user_id}


def _group_members(state: State, name: str) -> set[str]:
    emails = {m.id: m.email_ci for m in state.members.values()}
    group = next(g for g in state.workspace_groups.values() if g.name == name)
    return {emails[m] for m in group.scim_member_ids}


def test_users_and_a_group_pushed_over_http_reach_the_workspace(stack: ServiceStack) -> None:
    tenant = stack.create_tenant("Acme", "acme.test")
    emails = [f"user{i}@acme.test" for i in range(8)]
    with httpx.Client(base_url=tenant.scim_url, headers=tenant.scim_headers, timeout=15) as idp:
        ids = {}
        for email in [*emails, "guest@partner.test"]:
            created = idp.post("/Users", json=user_body(email))
            assert created.status_code == 201, created.text
            ids[email] = created.json()["id"]
        group = idp.post(
            "/Groups", json=group_body("Engineering", members=[ids[e] for e in emails[:5]])
        )
        assert group.status_code == 201, group.text
        changed = idp.patch(
            f"/Groups/{group.json()['id']}",
            json=patch_body(
                {
                    "op": "add",
                    "path": "members",
                    "value": [
                        {"value": ids["user6@acme.test"]},
                        {"value": ids["guest@partner.test"]},
                    ],
                },
                {"op": "remove", "path": f'members[value eq "{ids["user0@acme.test"]}"]'},
            ),
        )
        assert changed.status_code in (200, 204), changed.text
        deactivated = idp.patch(
            f"/Users/{ids['user1@acme.test']}",
            json=patch_body({"op": "replace", "path": "active", "value": False}),
        )
        assert deactivated.status_code in (200, 204), deactivated.text
        assert idp.delete(f"/Users/{ids['user2@acme.test']}").status_code == 204

    expected_members = {e: "active" for e in emails if e != "user2@acme.test"}
    expected_members |= {"user1@acme.test": "deactivated", "guest@partner.test": "pending"}
    # user1 is deactivated but keeps its membership (rule 4); user2 left with its own.
    expected_group = {
        "user1@acme.test",
        "user3@acme.test",
        "user4@acme.test",
        "user6@acme.test",
        "guest@partner.test",
    }

    def applied() -> bool:
        state = load_state(stack.engine, tenant.id)
        return (
            _members_by_email(state) == expected_members
            and _group_members(state, "Engineering (SCIM)") == expected_group
            and state.pending_events == 0
        )

    wait_for(applied, timeout=60, message="the workspace showing the IdP's users and group")
    state = load_state(stack.engine, tenant.id)
    assert state.dead_letters == []
    applied = state.events_by_state[EventState.APPLIED]
    assert state.events_by_state == {EventState.APPLIED: applied}

    # What an admin sees on the Members page (the admin API of the same process).
    admin = httpx.Client(
        base_url=f"{stack.base_url}/api/v1/workspaces/{tenant.id}",
        headers={"Authorization": f"Bearer {tenant.admin_token}"},
        timeout=15,
    )
    with admin:
        listed = admin.get("/members")
        assert listed.status_code == 200, listed.text
        shown = {m["email"]: m["status"] for m in listed.json()["members"] if m["scim_managed"]}
        assert shown == expected_members
        assert listed.json()["counts"] == {"active": 6, "pending": 1, "deactivated": 1}
        user1 = next(m for m in listed.json()["members"] if m["email"] == "user1@acme.test")
        detail = admin.get(f"/members/{user1['id']}").json()
        assert [g["name"] for g in detail["groups"]] == ["Engineering (SCIM)"]
        assert detail["can_login"] is False
