"""The operator dashboard over HTTP: who gets in, what it shows, what its buttons do."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text, update

from events.ops.dashboard_auth import COOKIE_NAME, SESSION_SECONDS, new_session
from storage.clock import utcnow
from storage.event_state import EventState
from storage.schema import change_events, dead_letters, members, workspace_groups
from tests.support.workspace import TenantHandle, group_body, make_tenant, patch_body, user_body
from worker.pipeline import drain

TOKEN = "op-test-token"  # what the service_env fixture configures
OPERATOR = {"Authorization": f"Bearer {TOKEN}"}


def push_users(api: Any, tenant: TenantHandle, *emails: str) -> list[str]:
    ids = []
    for email in emails:
        created = api.post(
            f"{tenant.scim_base}/Users", json=user_body(email), headers=tenant.scim_headers
        )
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
    return ids


def apply(engine: Any, tenant: TenantHandle) -> None:
    drain(engine, tenant.id, batch_size=500, time_budget=30)


def set_scim(engine: Any, tenant: TenantHandle, enabled: bool) -> None:
    with engine.begin() as conn:  # behind the pipeline's back, as an operator mistake would
        conn.execute(
            text("UPDATE tenants SET scim_enabled = :on WHERE id = :t"),
            {"on": enabled, "t": tenant.id},
        )


def make_dead_letter(api: Any, engine: Any, tenant: TenantHandle, email: str) -> None:
    push_users(api, tenant, email)
    set_scim(engine, tenant, False)
    apply(engine, tenant)
    set_scim(engine, tenant, True)


def figures_on_page(html: str, tenant_id: str) -> dict[str, str]:
    """{figure name: raw value} of one tenant's section of the page."""
    section = html.split(f'data-tenant="{tenant_id}"', 1)[1].split('data-tenant="', 1)[0]
    return dict(re.findall(r'data-figure="([\w.]+)" data-value="([^"]*)"', section))


def dead_letter_count(engine: Any, tenant: TenantHandle) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(dead_letters)
                .where(dead_letters.c.tenant_id == tenant.id)
            ).scalar_one()
        )


@pytest.fixture
def tenant(engine: Any, service_env: Any) -> TenantHandle:
    return make_tenant(engine)


@pytest.mark.parametrize("configured", [None, ""])
def test_disabled_without_an_operator_token(
    api: Any,
    tenant: TenantHandle,
    engine: Any,
    monkeypatch: pytest.MonkeyPatch,
    configured: str | None,
) -> None:
    make_dead_letter(api, engine, tenant, "dl@acme.test")
    # The app reads its settings once, when it is built (events/app.py).
    monkeypatch.setattr(api.app.state.runtime.settings, "operator_token", configured)

    page = api.get("/dashboard", headers=OPERATOR)
    assert page.status_code == 403
    assert "disabled" in page.text and "SCIMSYNC_OPERATOR_TOKEN" in page.text
    assert tenant.id not in page.text
    for response in (
        api.get("/dashboard/api/summary", headers={"Authorization": "Bearer "}),
        api.post("/dashboard/api/dead-letters/replay", json={}, headers=OPERATOR),
    ):
        assert response.status_code == 403
        assert response.json()["error"] == "dashboard_disabled"
    assert api.post("/dashboard/login", data={"token": ""}).status_code == 403
    assert dead_letter_count(engine, tenant) == 1


def test_everything_is_refused_without_the_token(api: Any, tenant: TenantHandle) -> None:
    login = api.get("/dashboard")
    assert login.status_code == 401
    assert 'name="token"' in login.text and tenant.id not in login.text
    wrong = {"Authorization": "Bearer op-test-tokeN"}
    for response in (
        api.get("/dashboard/api/summary"),
        api.get("/dashboard/api/summary", headers=wrong),
        api.get("/dashboard/runs/1?format=json", headers=wrong),
        api.post("/dashboard/api/dead-letters/replay", json={}, headers=wrong),
    ):
        assert response.status_code == 401
        assert response.json()["error"] == "unauthorized"
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert api.get("/dashboard/runs/1", headers=wrong).status_code == 401


def test_login_form_trades_the_token_for_an_httponly_cookie(api: Any, tenant: TenantHandle) -> None:
    refused = api.post("/dashboard/login", data={"token": "guess"})
    assert refused.status_code == 401 and "not the operator token" in refused.text
    assert COOKIE_NAME not in refused.headers.get("set-cookie", "")

    accepted = api.post("/dashboard/login", data={"token": TOKEN}, follow_redirects=False)
    assert accepted.status_code == 303 and accepted.headers["location"] == "/dashboard"
    cookie = accepted.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE_NAME}=") and TOKEN not in cookie
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/dashboard" in cookie

    page = api.get("/dashboard")  # the client sends the cookie back, as a browser does
    assert page.status_code == 200 and tenant.id in page.text
    assert api.get("/dashboard/api/summary").status_code == 200

    api.post("/dashboard/logout")
    assert api.get("/dashboard").status_code == 401


@pytest.mark.parametrize(
    "cookie",
    [
        "123.abc",
        "not-a-session",
        new_session("another-token", time.time()),
        new_session(TOKEN, time.time() - SESSION_SECONDS - 5),  # expired
        new_session(TOKEN, time.time() + 3600),  # from the future
    ],
)
def test_forged_or_expired_sessions_are_refused(
    api: Any, tenant: TenantHandle, cookie: str
) -> None:
    api.cookies.set(COOKIE_NAME, cookie, path="/dashboard")
    assert api.get("/dashboard").status_code == 401
    api.cookies.set(COOKIE_NAME, new_session(TOKEN, time.time()), path="/dashboard")
    assert api.get("/dashboard").status_code == 200


def test_figures_match_the_database(api: Any, tenant: TenantHandle, engine: Any) -> None:
    ids = push_users(api, tenant, "a@acme.test", "b@acme.test", "c@acme.test", "guest@partner.test")
    api.patch(
        f"{tenant.scim_base}/Users/{ids[2]}",
        headers=tenant.scim_headers,
        json=patch_body({"op": "replace", "value": {"active": False}}),
    )
    api.post(
        f"{tenant.scim_base}/Groups", json=group_body("Eng", ids[:2]), headers=tenant.scim_headers
    )
    apply(engine, tenant)
    native = api.post(
        f"/api/v1/workspaces/{tenant.id}/groups",
        json={"name": "Finance"},
        headers=tenant.admin_headers,
    )
    assert native.status_code == 201, native.text
    make_dead_letter(api, engine, tenant, "dead@acme.test")
    push_users(api, tenant, "queued1@acme.test", "queued2@acme.test")  # left unapplied

    summary = api.get("/dashboard/api/summary", headers=OPERATOR).json()
    [section] = summary["tenants"]
    with engine.connect() as conn:
        by_status = dict(
            conn.execute(
                select(members.c.status, func.count())
                .where(members.c.tenant_id == tenant.id)
                .group_by(members.c.status)
            ).all()
        )
        scim_groups = conn.execute(
            select(func.count()).where(
                workspace_groups.c.tenant_id == tenant.id,
                workspace_groups.c.scim_group_id.is_not(None),
            )
        ).scalar_one()
        pending = conn.execute(
            select(func.count()).where(
                change_events.c.tenant_id == tenant.id, change_events.c.state == EventState.PENDING
            )
        ).scalar_one()
        last_events = (
            conn.execute(
                select(change_events.c.id)
                .where(change_events.c.tenant_id == tenant.id)
                .order_by(change_events.c.id.desc())
                .limit(20)
            )
            .scalars()
            .all()
        )
    assert by_status == {"active": 3, "pending": 1, "deactivated": 1}  # the owner is active
    assert section["members"] == by_status
    assert section["groups"] == {"scim": scim_groups, "native": 1} and scim_groups == 1
    assert section["pipeline"]["queue_depth"] == pending == 2
    assert section["pipeline"]["oldest_unapplied_age_seconds"] >= 0
    assert section["dead_letters"]["count"] == 1
    assert section["dead_letters"]["latest"][0]["error_code"] == "scim_disabled"
    assert [e["id"] for e in section["recent_events"]] == last_events
    assert section["alerts"][0]["code"] == "dead_letters" and summary["ok"] is False

    page = api.get("/dashboard", headers=OPERATOR)
    shown = figures_on_page(page.text, tenant.id)
    assert {key: int(shown[f"members.{key}"]) for key in by_status} == by_status
    assert int(shown["groups.scim"]) == 1 and int(shown["groups.native"]) == 1
    assert int(shown["pipeline.queue_depth"]) == 2 and int(shown["dead_letters.count"]) == 1
    assert 'class="tile bad" data-figure="dead_letters.count"' in page.text


def test_a_backlog_older_than_five_minutes_turns_red(
    api: Any, tenant: TenantHandle, engine: Any
) -> None:
    push_users(api, tenant, "slow@acme.test")
    page = api.get("/dashboard", headers=OPERATOR).text
    assert 'class="banner ok"' in page and "tile bad" not in page
    with engine.begin() as conn:
        conn.execute(update(change_events).values(received_at=utcnow() - timedelta(minutes=7)))
    summary = api.get(f"/dashboard/api/summary?tenant={tenant.id}", headers=OPERATOR).json()
    assert [a["code"] for a in summary["tenants"][0]["alerts"]] == ["stale_backlog"]
    page = api.get("/dashboard", headers=OPERATOR).text
    assert 'class="banner bad"' in page and "7 min" in page
    assert 'class="tile bad" data-figure="pipeline.oldest_unapplied_age_seconds"' in page


def test_replay_by_id_by_tenant_and_all(api: Any, tenant: TenantHandle, engine: Any) -> None:
    other = make_tenant(
        engine, name="Globex", domains=("globex.test",), owner_email="owner@globex.test"
    )
    make_dead_letter(api, engine, tenant, "one@acme.test")
    make_dead_letter(api, engine, tenant, "two@acme.test")
    make_dead_letter(api, engine, other, "three@globex.test")
    with engine.connect() as conn:
        first = conn.execute(
            select(func.min(dead_letters.c.id)).where(dead_letters.c.tenant_id == tenant.id)
        ).scalar_one()

    def replay(body: dict[str, Any]) -> dict[str, Any]:
        response = api.post("/dashboard/api/dead-letters/replay", json=body, headers=OPERATOR)
        assert response.status_code == 200, response.text
        return dict(response.json())

    assert replay({"ids": [first]}) == {"replayed": 1, "tenants": [tenant.id]}
    assert (dead_letter_count(engine, tenant), dead_letter_count(engine, other)) == (1, 1)
    # Nothing to replay must replay nothing, not everything.
    assert replay({"ids": []})["replayed"] == 0
    assert replay({"tenant_id": "no-such-tenant"})["replayed"] == 0
    assert replay({"tenant_id": other.id, "ids": [first]})["replayed"] == 0
    assert replay({"tenant_id": tenant.id}) == {"replayed": 1, "tenants": [tenant.id]}
    assert (dead_letter_count(engine, tenant), dead_letter_count(engine, other)) == (0, 1)
    assert replay({}) == {"replayed": 1, "tenants": [other.id]}

    apply(engine, tenant)
    apply(engine, other)
    summary = api.get("/dashboard/api/summary", headers=OPERATOR).json()
    assert summary["ok"] is True
    assert {t["name"]: t["members"]["active"] for t in summary["tenants"]} == {
        "Acme": 3,
        "Globex": 2,
    }


@pytest.mark.parametrize(
    "body", [{"ids": "7"}, {"ids": [True]}, {"ids": [1.5]}, {"tenant_id": 5}, [1, 2]]
)
def test_malformed_replay_requests_change_nothing(
    api: Any, tenant: TenantHandle, engine: Any, body: Any
) -> None:
    make_dead_letter(api, engine, tenant, "dl@acme.test")
    response = api.post("/dashboard/api/dead-letters/replay", json=body, headers=OPERATOR)
    assert response.status_code == 400
    assert dead_letter_count(engine, tenant) == 1


def test_a_cookie_session_can_only_replay_with_a_json_request(
    api: Any, tenant: TenantHandle, engine: Any
) -> None:
    make_dead_letter(api, engine, tenant, "dl@acme.test")
    api.post("/dashboard/login", data={"token": TOKEN})
    as_form = api.post("/dashboard/api/dead-letters/replay", data={"ids": "1"})
    assert as_form.status_code == 403 and as_form.json()["error"] == "json_required"
    assert dead_letter_count(engine, tenant) == 1
    as_json = api.post("/dashboard/api/dead-letters/replay", json={"tenant_id": tenant.id})
    assert as_json.json()["replayed"] == 1 and dead_letter_count(engine, tenant) == 0


def test_reconcile_runs_are_listed_with_their_drift_and_report(
    api: Any, tenant: TenantHandle, engine: Any
) -> None:
    from worker.reconcile_jobs import run_reconcile

    push_users(api, tenant, "x@acme.test", "y@acme.test")  # in the mirror, not yet applied
    done = run_reconcile(tenant.id, dry_run=True)
    run_id, counts = done["run_id"], done["counts"]
    assert counts["user_created"] == 2

    [run] = api.get("/dashboard/api/summary", headers=OPERATOR).json()["tenants"][0][
        "reconcile_runs"
    ]
    assert (run["id"], run["outcome"], run["counts"]) == (run_id, "drift_found", counts)
    assert run["drift"] == sum(counts.values())
    page = api.get("/dashboard", headers=OPERATOR).text
    assert f'href="/dashboard/runs/{run_id}"' in page

    report = api.get(
        f"/dashboard/runs/{run_id}", headers={**OPERATOR, "Accept": "application/json"}
    )
    assert report.status_code == 200
    body = report.json()
    assert body["tenant_name"] == "Acme" and body["counts"] == counts
    created = [i["name"] for i in body["items"] if i["kind"] == "user_created"]
    assert sorted(created) == ["x@acme.test", "y@acme.test"]
    html = api.get(f"/dashboard/runs/{run_id}", headers=OPERATOR)
    assert html.headers["content-type"].startswith("text/html")
    assert "user_created" in html.text and "x@acme.test" in html.text
    assert f'href="/dashboard/tenants/{tenant.id}/drift"' in page

    drift = api.get(f"/dashboard/tenants/{tenant.id}/drift?format=json", headers=OPERATOR)
    assert [r["id"] for r in drift.json()["runs"]] == [run_id]
    drift_html = api.get(f"/dashboard/tenants/{tenant.id}/drift", headers=OPERATOR).text
    assert f'data-bar="{run_id}" data-value="2"' in drift_html
    filtered = api.get(
        f"/dashboard/runs/{run_id}?format=json&kind=user_removed", headers=OPERATOR
    ).json()
    assert filtered["items"] == [] and filtered["items_matching"] == 0
    assert api.get("/dashboard/tenants/nope/drift", headers=OPERATOR).status_code == 404
    assert api.get(f"/dashboard/tenants/{tenant.id}/drift").status_code == 401

    assert api.get("/dashboard/runs/999999?format=json", headers=OPERATOR).status_code == 404
    assert api.get("/dashboard/runs/999999", headers=OPERATOR).status_code == 404


def test_names_from_the_outside_are_escaped(api: Any, engine: Any, service_env: Any) -> None:
    make_tenant(engine, name='<img src=x onerror="alert(1)">')
    page = api.get("/dashboard", headers=OPERATOR).text
    assert "<img src=x" not in page and "&lt;img src=x" in page


def test_one_tenant_or_an_unknown_one(api: Any, tenant: TenantHandle, engine: Any) -> None:
    other = make_tenant(engine, name="Globex", domains=("globex.test",), owner_email=None)
    one = api.get(f"/dashboard/api/summary?tenant={other.id}", headers=OPERATOR).json()
    assert [t["id"] for t in one["tenants"]] == [other.id]
    assert one["tenants"][0]["members"] == {"active": 0, "pending": 0, "deactivated": 0}
    missing = api.get("/dashboard/api/summary?tenant=nope", headers=OPERATOR)
    assert missing.status_code == 404
