"""Invitations end to end: the admin sends one from the Members page, the mail goes out
(a real SMTP server, or an .eml file in the embedded default), the person opens the
link, sets a password, and is an active member. Finding 2 of the admin-side audit:
before, an invitation was a row and nothing else.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, update

from storage.schema import invitations, members
from tests.integration.events.admin.support import AdminApi, IdpClient
from tests.integration.events.admin_ui.conftest import SMTP_PASSWORD, SMTP_USER, Inbox
from tests.support.workspace import TenantHandle
from worker import mail, tasks
from worker.settings import Settings

LINK = re.compile(r"http://[^\s]+/invitations/[A-Za-z0-9_\-]+")


def smtp_settings(inbox: Inbox, tmp_path: Path) -> Settings:
    return Settings(
        smtp_host=inbox.host,
        smtp_port=inbox.port,
        smtp_starttls=False,  # the test server speaks plain SMTP on loopback
        smtp_username=SMTP_USER,
        smtp_password=SMTP_PASSWORD,
        smtp_from="Acme <admin@acme.test>",
        var_dir=tmp_path,
    )


def page_post(api: Any, tenant: TenantHandle, path: str, data: dict[str, str]) -> Any:
    return api.post(
        f"/workspaces/{tenant.id}{path}",
        data=data,
        headers=tenant.admin_headers,
        follow_redirects=False,
    )


def open_invitations(engine: Engine, tenant_id: str) -> list[Any]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(invitations).where(
                    invitations.c.tenant_id == tenant_id, invitations.c.accepted_at.is_(None)
                )
            )
        )


def deliver_all(engine: Engine, settings: Settings, tenant_id: str) -> list[mail.Delivered]:
    """What the Celery worker does with each queued invitation."""
    done = []
    for row in open_invitations(engine, tenant_id):
        sent = mail.deliver_invitation(engine, settings, tenant_id, row.id)
        if sent is not None:
            done.append(sent)
    return done


def link_in(body: str) -> str:
    found = LINK.search(body)
    assert found, body
    return found.group(0).removeprefix("http://127.0.0.1:8000")


def test_finding_2_an_invitation_arrives_by_smtp_and_its_link_makes_the_person_active(
    api: Any, tenant: TenantHandle, engine: Engine, inbox: Inbox, tmp_path: Path
) -> None:
    invited = page_post(api, tenant, "/members/invite", {"email": "guest@partner.test"})
    assert invited.status_code == 303
    [sent] = deliver_all(engine, smtp_settings(inbox, tmp_path), tenant.id)
    assert sent.via == "smtp" and inbox.logins == [SMTP_USER]
    [message] = inbox.messages
    assert message["To"] == "guest@partner.test"
    assert message["Subject"] == "You are invited to join Acme"
    link = link_in(message.get_payload())

    form = api.get(link)
    assert form.status_code == 200 and "guest@partner.test" in form.text
    short = api.post(link, data={"password": "short", "confirm": "short"})
    assert short.status_code == 400 and "at least 12 characters" in short.text
    accepted = api.post(link, data={"password": "correct horse 1", "confirm": "correct horse 1"})
    assert accepted.status_code == 200 and "is now an active member" in accepted.text

    with engine.connect() as conn:
        row = conn.execute(select(members).where(members.c.email_ci == "guest@partner.test")).one()
    assert (row.status, row.has_password) == ("active", True)
    assert row.password_hash.startswith("$argon2id$")
    again = api.post(link, data={"password": "correct horse 1", "confirm": "correct horse 1"})
    assert again.status_code == 410 and "already used" in again.text  # single use


def test_the_embedded_default_writes_an_eml_file_and_prints_the_link(
    api: Any,
    tenant: TenantHandle,
    engine: Engine,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    page_post(api, tenant, "/members/invite", {"email": "eml@partner.test"})
    settings = Settings(var_dir=tmp_path)  # no SMTP host: the embedded default
    [sent] = deliver_all(engine, settings, tenant.id)
    [eml] = mail.mail_files(tmp_path / "mail")
    assert sent.via == str(eml)
    message = message_from_bytes(eml.read_bytes())
    assert message["To"] == "eml@partner.test"
    assert sent.link in capsys.readouterr().out
    assert api.get(link_in(message.get_payload())).status_code == 200


def test_an_expired_or_revoked_link_is_refused_in_words(
    api: Any, tenant: TenantHandle, engine: Engine, tmp_path: Path
) -> None:
    page_post(api, tenant, "/members/invite", {"email": "late@partner.test"})
    [sent] = deliver_all(engine, Settings(var_dir=tmp_path), tenant.id)
    link = link_in(sent.link)
    with engine.begin() as conn:
        conn.execute(
            update(invitations).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    expired = api.get(link)
    assert expired.status_code == 410 and "has expired" in expired.text
    # A resend makes a new link; the old one stays dead.
    [row] = open_invitations(engine, tenant.id)
    member_id = row.member_id
    assert page_post(api, tenant, f"/members/{member_id}/send-invitation", {}).status_code == 303
    [resent] = deliver_all(engine, Settings(var_dir=tmp_path), tenant.id)
    assert api.get(link).status_code == 404
    fresh = link_in(resent.link)
    assert api.get(fresh).status_code == 200
    assert page_post(api, tenant, f"/invitations/{row.id}/revoke", {}).status_code == 303
    revoked = api.get(fresh)
    assert revoked.status_code in (404, 410)


def test_after_the_sso_cascade_the_admin_invites_every_pending_member(
    api: Any,
    admin: AdminApi,
    idp: IdpClient,
    tenant: TenantHandle,
    engine: Engine,
    inbox: Inbox,
    tmp_path: Path,
) -> None:
    idp.create_user("alice@acme.test")
    idp.create_user("bob@acme.test")
    idp.apply()
    admin.ok("DELETE", "/sso")
    assert {m["email"] for m in admin.ok("GET", "/members?status=pending")["members"]} == {
        "alice@acme.test",
        "bob@acme.test",
    }
    assert open_invitations(engine, tenant.id) == []  # the cascade sends none itself
    assert page_post(api, tenant, "/members/invite-all-pending", {}).status_code == 303
    deliver_all(engine, smtp_settings(inbox, tmp_path), tenant.id)
    assert sorted(m["To"] for m in inbox.messages) == ["alice@acme.test", "bob@acme.test"]


def test_a_mail_server_that_is_down_raises_what_the_task_retries(
    api: Any, tenant: TenantHandle, engine: Engine, inbox: Inbox, tmp_path: Path
) -> None:
    page_post(api, tenant, "/members/invite", {"email": "retry@partner.test"})
    inbox.refuse = True
    settings = smtp_settings(inbox, tmp_path)
    [row] = open_invitations(engine, tenant.id)
    with pytest.raises(mail.TRANSIENT_MAIL_ERRORS):
        mail.deliver_invitation(engine, settings, tenant.id, row.id)
    assert set(tasks.deliver_invitation.autoretry_for) == set(mail.TRANSIENT_MAIL_ERRORS)
    assert tasks.deliver_invitation.max_retries == Settings().mail_max_retries
    inbox.refuse = False  # the retry succeeds, with a new link
    assert mail.deliver_invitation(engine, settings, tenant.id, row.id) is not None
    assert len(inbox.messages) == 1
