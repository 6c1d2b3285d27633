"""The workspace admin's Members and Groups pages in a real browser (headless Chromium),
and an invitation's whole path: send → .eml → link → password → Active.

Every rule of the Members page is exercised where an admin meets it: the three tabs
and their counts, billed seats, the "managed by" badge, delete disabled for a
SCIM-managed member with the reason on hover, `(SCIM)` groups locked but open to
permissions, a faked `(SCIM)` name refused in words, the Provisioning tab, and pause.
The app runs on a real socket in-process (`live_server`). Screenshots go to
tests/e2e/artifacts/ (kept by CI); the README's two come from here
(`UPDATE_README_SCREENSHOTS=1` rewrites them under docs/screenshots/).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.e2e.test_dashboard_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from tests.integration.events.admin.support import AdminApi, IdpClient
from tests.support.workspace import TenantHandle, make_tenant, user_body
from worker import mail
from worker.pipeline import drain
from worker.settings import Settings

pytestmark = pytest.mark.browser
README_SHOTS = Path(__file__).parents[2] / "docs" / "screenshots"


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
            viewport={"width": 1300, "height": 820},
        )
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()


def shot(page: Any, name: str, readme: bool = False) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)
    if readme and os.environ.get("UPDATE_README_SCREENSHOTS"):
        README_SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(README_SHOTS / name), full_page=False)


def build(api: Any, engine: Engine) -> tuple[TenantHandle, IdpClient]:
    tenant = make_tenant(engine, name="Acme", idp="okta")
    idp = IdpClient(api, tenant, engine)
    ann = idp.create_user("ann@acme.test", name={"givenName": "Ann", "familyName": "Berg"})
    bob = idp.create_user("bob@acme.test", displayName="Bob Ray")
    idp.create_user("guest@partner.test", name={"formatted": "Gia Guest"})
    cy = idp.create_user("cy@acme.test")
    idp.create_group("Engineering", [ann, bob])
    idp.apply()
    idp.set_active(cy, False)
    idp.apply()
    AdminApi(api, tenant).native_group("Design")
    clash = user_body("ann.b@acme.test", emails=[{"value": "ann@acme.test", "primary": True}])
    assert api.post(f"{tenant.scim_base}/Users", json=clash, headers=tenant.scim_headers).is_success
    drain(engine, tenant.id, batch_size=500, time_budget=30)  # the clash: a dead letter
    return tenant, idp


def test_admin_runs_the_members_page_and_an_invitation_end_to_end(
    api: Any, engine: Engine, live_server: str, page: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    tenant, _ = build(api, engine)
    members = f"{live_server}/workspaces/{tenant.id}/members"
    page.goto(members)
    page.fill("input[name=token]", "not-the-token")
    page.click("text=Log in")
    expect(page.locator(".error")).to_contain_text("not this workspace's admin token")
    page.fill("input[name=token]", tenant.admin_token)
    page.click("text=Log in")

    expect(page.locator("#tab-active")).to_contain_text("(3)")  # Owner, Ann, Bob
    expect(page.locator("#tab-pending")).to_contain_text("(1)")
    expect(page.locator("#tab-deactivated")).to_contain_text("(1)")
    expect(page.locator("#tab-provisioning")).to_contain_text("(1)")
    expect(page.locator("#billed")).to_have_text("3")
    ann = page.locator('tr[data-email="ann@acme.test"]')
    expect(ann).to_contain_text("Ann Berg")  # given + family name
    expect(ann).to_contain_text("managed by Okta")
    delete = ann.locator("button", has_text="Delete")
    expect(delete).to_be_disabled()
    assert "manage it in your identity provider" in (delete.get_attribute("title") or "")
    expect(page.locator('tr[data-email="owner@acme.test"]')).to_contain_text(
        "the workspace Owner cannot be deleted"
    )
    shot(page, "members-page.png", readme=True)

    page.click("#tab-provisioning")
    expect(page.locator("#problems")).to_contain_text("Two people claim the same email address")
    shot(page, "members-provisioning.png")

    page.click("#tab-pending")
    expect(page.locator('tr[data-email="guest@partner.test"]')).to_contain_text("Gia Guest")
    page.fill("input[name=email]", "newhire@partner.test")
    page.fill("input[name=display_name]", "New Hire")
    page.click("text=Invite")
    expect(page.locator(".notice")).to_contain_text("Invitation sent to newhire@partner.test")
    row = page.locator('tr[data-email="newhire@partner.test"]')
    expect(row).to_contain_text("Not sent yet")

    # What the Celery worker does with the queued invitation (embedded default: .eml).
    settings = Settings(var_dir=tmp_path / "var", public_base_url=live_server)
    for invitation_id in re.findall(r"/invitations/([0-9a-f-]+)/revoke", page.content()):
        mail.deliver_invitation(engine, settings, tenant.id, invitation_id)
    emls = mail.mail_files(settings.resolved_mail_dir)
    sent = {message_from_bytes(p.read_bytes())["To"]: p for p in emls}
    body = message_from_bytes(sent["newhire@partner.test"].read_bytes()).get_payload()
    link = re.search(r"http://\S+/invitations/\S+", body)
    assert link, body

    page.reload()
    expect(row).to_contain_text("Sent")
    expect(row).to_contain_text("expires")
    shot(page, "members-pending.png")

    invitee = page.context.new_page()
    invitee.goto(link.group(0))
    expect(invitee.locator("main")).to_contain_text("newhire@partner.test")
    shot(invitee, "invitation-accept.png", readme=True)
    invitee.fill("input[name=password]", "a long password 42")
    invitee.fill("input[name=confirm]", "a long password 42")
    invitee.click("text=Accept invitation")
    expect(invitee.locator("#accepted")).to_contain_text("is now an active member")
    invitee.goto(link.group(0))
    expect(invitee.locator(".error")).to_contain_text("already used")
    invitee.close()

    page.goto(members)
    expect(page.locator('tr[data-email="newhire@partner.test"]')).to_contain_text("New Hire")
    expect(page.locator("#billed")).to_have_text("4")

    page.click("text=Groups")
    eng = page.locator('tr[data-group="Engineering (SCIM)"]')
    expect(eng.locator("button", has_text="Rename")).to_be_disabled()
    eng.locator("input[name=path]").fill("/eng")
    eng.locator("button", has_text="Grant").click()
    expect(page.locator('tr[data-group="Engineering (SCIM)"]')).to_contain_text("/eng: read")
    page.fill("input[name=name] >> nth=0", "Sales (SCIM)")
    page.click("text=Create group")
    expect(page.locator(".error")).to_contain_text("reserved for groups your identity provider")
    shot(page, "groups-page.png")

    page.goto(members)
    page.click("#pause")
    expect(page.locator("#paused")).to_contain_text("Provisioning paused")
    shot(page, "members-paused.png")
