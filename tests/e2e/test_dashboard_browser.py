"""The operator dashboard in a real browser: headless Chromium against `scimsync api`.

The service runs as a real process on its own database and Redis, API only: the
test applies events itself (`worker.pipeline.drain`), so each figure is known when
the browser is asked about it. An operator logs in through the form, reads the
figures (checked against `/dashboard/api/summary` and SQL), opens a reconcile
report, fixes the cause of a dead letter, clicks Replay, and watches the page
refresh itself as the replayed event is applied. Screenshots go to
tests/e2e/artifacts/ (git-ignored) for a human to look at.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text

from storage import pipeline_samples
from storage.clock import utcnow
from storage.event_state import EventState
from storage.schema import change_events, dead_letters, members
from tests.e2e.harness import OPERATOR_TOKEN, ServiceStack, Tenant
from tests.e2e.servers import RedisServer
from tests.support.workspace import group_body, patch_body, user_body
from worker.pipeline import drain

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).parent / "artifacts"
OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
REFRESH_WAIT_MS = 15_000  # the page refreshes every 5 s


@pytest.fixture(scope="module")
def chromium() -> Path:
    """Debian's chromium. CI installs it, so there its absence is a failure, not a skip."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: apt-get install chromium (never `playwright install`)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="module")
def api_only(
    chromium: Path, module_root: Path, module_database: str, module_redis: RedisServer
) -> Iterator[ServiceStack]:
    service = ServiceStack(module_root / "service", module_database, module_redis.url)
    try:
        service.cli("db", "upgrade")
        service.start_api()
        yield service
    finally:
        service.stop_all()


@pytest.fixture
def browser(chromium: Path, tmp_path: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=str(chromium),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            yield context
        finally:
            context.close()


def apply(stack: ServiceStack, tenant: Tenant) -> None:
    drain(stack.engine, tenant.id, batch_size=500, time_budget=30)


def set_scim(stack: ServiceStack, tenant: Tenant, enabled: bool) -> None:
    with stack.engine.begin() as conn:
        conn.execute(
            text("UPDATE tenants SET scim_enabled = :on WHERE id = :t"),
            {"on": enabled, "t": tenant.id},
        )


def create_user(idp: httpx.Client, email: str) -> str:
    created = idp.post("/Users", json=user_body(email))
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def build_workspace(stack: ServiceStack) -> tuple[Tenant, int]:
    """5 active (one later deactivated), 1 pending, a SCIM and a native group, one dead
    letter, one event left in the queue and a dry-run reconcile that finds it."""
    tenant = stack.create_tenant("Initech", "initech.test")
    with httpx.Client(base_url=tenant.scim_url, headers=tenant.scim_headers, timeout=15) as idp:
        ids = [create_user(idp, f"user{i}@initech.test") for i in range(5)]
        create_user(idp, "contractor@partner.test")
        idp.patch(
            f"/Users/{ids[4]}", json=patch_body({"op": "replace", "value": {"active": False}})
        ).raise_for_status()
        idp.post("/Groups", json=group_body("Engineering", ids[:3])).raise_for_status()
        httpx.post(
            f"{stack.base_url}/api/v1/workspaces/{tenant.id}/groups",
            json={"name": "Finance"},
            timeout=15,
            headers={"Authorization": f"Bearer {tenant.admin_token}"},
        ).raise_for_status()
        apply(stack, tenant)
        create_user(idp, "late@initech.test")
        set_scim(stack, tenant, False)  # the worker refuses: a dead letter
        apply(stack, tenant)
        set_scim(stack, tenant, True)
        create_user(idp, "queued@initech.test")  # stays in the queue: no worker runs
    run = stack.cli_json("reconcile", tenant.id, "--dry-run", ok=(3,))  # 3: drift found
    return tenant, int(run["run_id"])


def sql_figures(stack: ServiceStack, tenant: Tenant) -> dict[str, int]:
    with stack.engine.connect() as conn:
        statuses: dict[str, int] = dict(
            conn.execute(
                select(members.c.status, func.count())
                .where(members.c.tenant_id == tenant.id)
                .group_by(members.c.status)
            ).all()
        )
        dead = conn.execute(
            select(func.count())
            .select_from(dead_letters)
            .where(dead_letters.c.tenant_id == tenant.id)
        ).scalar_one()
        pending = conn.execute(
            select(func.count()).where(
                change_events.c.tenant_id == tenant.id, change_events.c.state == EventState.PENDING
            )
        ).scalar_one()
    return {
        **{f"members.{s}": int(statuses.get(s, 0)) for s in ("active", "pending", "deactivated")},
        "dead_letters.count": int(dead),
        "pipeline.queue_depth": int(pending),
    }


def api_figures(stack: ServiceStack, tenant: Tenant) -> dict[str, int]:
    response = httpx.get(
        f"{stack.base_url}/dashboard/api/summary",
        params={"tenant": tenant.id},
        headers=OPERATOR,
        timeout=15,
    )
    response.raise_for_status()
    [section] = response.json()["tenants"]
    return {
        **{f"members.{s}": n for s, n in section["members"].items()},
        **{f"groups.{k}": n for k, n in section["groups"].items()},
        "dead_letters.count": section["dead_letters"]["count"],
        "pipeline.queue_depth": section["pipeline"]["queue_depth"],
    }


def test_operator_reads_figures_and_replays_a_dead_letter(
    api_only: ServiceStack, browser: Any
) -> None:
    from playwright.sync_api import expect

    stack = api_only
    tenant, run_id = build_workspace(stack)
    expected = api_figures(stack, tenant)
    from_sql = sql_figures(stack, tenant)
    assert {k: expected[k] for k in from_sql} == from_sql
    assert from_sql == {
        "members.active": 4,
        "members.pending": 1,
        "members.deactivated": 1,
        "dead_letters.count": 1,
        "pipeline.queue_depth": 1,
    }
    assert (expected["groups.scim"], expected["groups.native"]) == (1, 1)

    page = browser.pages[0] if browser.pages else browser.new_page()
    page.goto(f"{stack.base_url}/dashboard")
    page.fill("input[name=token]", "not-the-token")
    page.click("button[type=submit]")
    expect(page.locator("#login-error")).to_be_visible()
    page.fill("input[name=token]", OPERATOR_TOKEN)
    page.click("button[type=submit]")

    # The fleet table on top: one row per tenant, red where something needs attention.
    fleet_row = page.locator(f'#fleet tr[data-fleet-tenant="{tenant.id}"]')
    expect(fleet_row).to_have_class("bad")
    expect(fleet_row.locator('[data-figure="fleet.health"]')).to_contain_text("dead letters")
    section = page.locator(f'section[data-tenant="{tenant.id}"]')
    expect(section).to_be_visible()
    # Trends of the last hour, drawn from beat's samples (none in this API-only stack yet).
    expect(section.locator('figure[data-trend="queue_depth"]')).to_contain_text("no data")

    def shown(figure: str) -> Any:
        return section.locator(f'[data-figure="{figure}"] .value')

    for figure, value in expected.items():
        expect(shown(figure)).to_have_text(str(value))
    [session] = [c for c in browser.cookies() if c["name"] == "scimsync_dashboard"]
    assert session["httpOnly"] and OPERATOR_TOKEN not in session["value"]
    assert "scimsync_dashboard" not in page.evaluate("document.cookie")
    # At 3 a.m.: a dead letter is red, and so is the banner.
    expect(section.locator('[data-figure="dead_letters.count"]')).to_have_class("tile bad")
    expect(page.locator("#overall")).to_have_attribute("data-ok", "false")
    expect(section.locator("tr[data-dead-letter]")).to_have_count(1)
    expect(section.locator("tr[data-dead-letter]")).to_contain_text("scim_disabled")
    expect(section.locator("tr[data-event]").first).to_contain_text("pending")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

    # The reconcile run found the queued user: its report lists the action.
    expect(section.locator(f'tr[data-run="{run_id}"] [data-figure="run.drift"]')).not_to_have_text(
        "0"
    )
    section.locator(f'a[href="/dashboard/runs/{run_id}"]').click()
    expect(page.locator('[data-table="run-items"]')).to_contain_text("queued@initech.test")
    expect(page.locator('tr[data-item-kind="user_created"]').first).to_contain_text(
        "joins as Active"
    )
    page.screenshot(path=str(ARTIFACTS / "dashboard-run.png"), full_page=True)
    page.go_back()

    # The Drift page, from the overview: the run, its bar in the chart, its items by kind.
    section.locator('a[data-link="drift"]').click()
    expect(page.locator(f'tr[data-run="{run_id}"] [data-figure="run.drift"]')).not_to_have_text("0")
    expect(page.locator(f'svg[data-chart="drift"] rect[data-bar="{run_id}"]')).to_have_count(1)
    page.locator(f'tr[data-run="{run_id}"] a[href$="kind=user_created"]').click()
    expect(page.locator('tr[data-item-kind="user_created"]').first).to_be_visible()
    expect(page.locator("tr[data-item-kind]:not([data-item-kind='user_created'])")).to_have_count(0)
    page.screenshot(path=str(ARTIFACTS / "dashboard-drift.png"), full_page=True)
    page.goto(f"{stack.base_url}/dashboard")

    # SCIM is back on (the cause is fixed): replay from the page.
    section.locator(f'button[data-replay-tenant="{tenant.id}"]').click()
    expect(section.locator("tr[data-dead-letter]")).to_have_count(0)
    expect(page.locator("#action-status")).to_contain_text("Replayed 1 event")
    expect(shown("dead_letters.count")).to_have_text("0")
    expect(shown("pipeline.queue_depth")).to_have_text("2")  # the replayed event waits
    assert sql_figures(stack, tenant)["dead_letters.count"] == 0

    # A worker applies both; the open page shows it on its own, without a reload.
    apply(stack, tenant)
    with stack.engine.begin() as conn:  # what beat's scimsync.sample_pipeline does
        pipeline_samples.record(
            conn, pipeline_samples.take(conn, now=utcnow(), interval=timedelta(minutes=1))
        )
    expect(shown("pipeline.queue_depth")).to_have_text("0", timeout=REFRESH_WAIT_MS)
    expect(shown("members.active")).to_have_text("6", timeout=REFRESH_WAIT_MS)
    expect(page.locator("#overall")).to_have_attribute("data-ok", "true")
    assert api_figures(stack, tenant)["members.active"] == 6
    applied = section.locator('figure[data-trend="applied"]')
    expect(applied).to_have_attribute("data-samples", "1", timeout=REFRESH_WAIT_MS)
    expect(applied.locator("polyline")).to_have_count(1)
    expect(fleet_row).not_to_have_class("bad")
    page.screenshot(path=str(ARTIFACTS / "dashboard-fleet.png"), full_page=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-after-replay.png"), full_page=True)
