"""The provisioning trace in a real browser: an operator logs in, types a person's email
in the dashboard's search box and reads her story, step by step with its cause, in
order; nothing secret is on the page. The app runs on a real socket in-process
(`live_server`); the story is told through the same app (tests/support/trace_story.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_dashboard_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from tests.support.trace_story import assert_story, tell

pytestmark = pytest.mark.browser
OPERATOR_TOKEN = "op-test-token"  # tests/conftest.py's service_env


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()


def test_operator_searches_a_person_and_reads_her_story(
    api: Any, engine: Any, live_server: str, page: Any
) -> None:
    from playwright.sync_api import expect

    story = tell(api, engine)
    page.goto(f"{live_server}/dashboard")
    page.fill("input[name=token]", OPERATOR_TOKEN)
    page.click("button[type=submit]")
    search = page.locator("form.trace-search")
    search.locator("select[name=tenant]").select_option(story.tenant.id)
    search.locator("input[name=q]").fill("Alice@acme.test")
    search.locator("button[type=submit]").click()

    expect(page.locator("#trace-summary")).to_contain_text("Active since")
    rows = page.locator('[data-table="trace"] tr[data-kind]')
    entries = [
        {
            "kind": row.get_attribute("data-kind"),
            "what": row.locator("td").nth(2).inner_text(),
            "cause": row.locator("td").nth(3).inner_text(),
        }
        for row in rows.all()
    ]
    assert_story(entries)
    html = page.content()
    for secret in (story.password, story.tenant.scim_token, story.tenant.admin_token):
        assert secret not in html
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-trace.png"), full_page=True)

    # The stable link a member row can use, and a search that finds nobody.
    page.goto(f"{live_server}/dashboard/trace?tenant={story.tenant.id}&q={story.alice}")
    expect(page.locator("#trace-summary")).to_contain_text("Active since")
    page.goto(f"{live_server}/dashboard/trace?tenant={story.tenant.id}&q=nobody@acme.test")
    expect(page.locator('[data-trace="not-found"]')).to_contain_text("nobody@acme.test")


def test_workspace_admin_follows_a_member_rows_timeline_link(
    api: Any, engine: Any, live_server: str, page: Any
) -> None:
    """The admin's side: log in, open Members, click Alice's Timeline link, read her story."""
    from playwright.sync_api import expect

    story = tell(api, engine)
    tenant = story.tenant
    page.goto(f"{live_server}/workspaces/{tenant.id}/login")
    page.fill("input[name=token]", tenant.admin_token)
    page.locator("form button").first.click()
    expect(page.locator("#members")).to_be_visible()
    page.locator('tr[data-email="alice@acme.test"] td.trace-link a').click()

    expect(page.locator("#trace-summary")).to_contain_text("Active since")
    rows = page.locator("#trace tr[data-kind]")
    entries = [
        {
            "kind": row.get_attribute("data-kind"),
            "what": row.locator("td").nth(1).inner_text(),
            "cause": row.locator("td").nth(2).inner_text(),
        }
        for row in rows.all()
    ]
    assert_story(entries)
    for secret in (story.password, tenant.scim_token, tenant.admin_token):
        assert secret not in page.content()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "members-trace.png"), full_page=True)

    search = page.locator("form[role=search]")
    search.locator("input[name=q]").fill("nobody@acme.test")
    search.locator("button").click()
    expect(page.locator("#trace-missing")).to_contain_text("nobody@acme.test")
