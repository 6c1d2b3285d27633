"""Invitation mail: render, then deliver over SMTP or, in the embedded default, as an
.eml file under ./var/mail/ with the link printed for whoever runs `scimsync up`.

`deliver_invitation` is what the Celery task runs: a fresh link is issued and committed
first (reconciler/invitations.py), then the mail is sent. A failed send raises, the
task retries with backoff, and the retry issues a new link, so the only link that works
is the one in the mail that arrived.
"""

from __future__ import annotations

import smtplib
import uuid
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

import structlog
from sqlalchemy import Engine, select

from reconciler import invitations
from storage.clock import utcnow
from storage.db import unit_of_work
from storage.schema import tenants
from storage.workspace.invitations import invitation_unit_of_work
from worker import service_url
from worker.settings import Settings

log = structlog.get_logger(__name__)

# What a delivery attempt may fail with and succeed on retry (a server down or busy).
TRANSIENT_MAIL_ERRORS: tuple[type[Exception], ...] = (smtplib.SMTPException, OSError)


@dataclass(frozen=True)
class Delivered:
    invitation_id: str
    to: str
    link: str
    via: str  # "smtp" or the .eml file's path


def invitation_link(settings: Settings, token: str) -> str:
    return f"{service_url.base_url(settings)}/invitations/{token}"


def invitation_message(
    settings: Settings, *, to: str, workspace: str, link: str, expires: str
) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = f"You are invited to join {workspace}"
    message["From"] = settings.smtp_from
    message["To"] = to
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="scim-sync")
    message.set_content(
        f"You have been invited to join the {workspace} workspace.\n\n"
        f"Open this link to set your password and join:\n{link}\n\n"
        f"The link works once and expires on {expires}.\n"
    )
    return message


def send(settings: Settings, message: EmailMessage) -> str:
    """Deliver one message; returns where it went."""
    if not settings.smtp_host:
        folder = settings.resolved_mail_dir
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{utcnow():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}.eml"
        path.write_bytes(bytes(message))
        return str(path)
    with smtplib.SMTP(
        settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_seconds
    ) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password or "")
        smtp.send_message(message)
    return "smtp"


def deliver_invitation(
    engine: Engine, settings: Settings, tenant_id: str, invitation_id: str
) -> Delivered | None:
    """Issue a link (committed), then send it; None when there is nothing to send (the
    invitation was revoked or accepted meanwhile)."""
    ttl = timedelta(hours=settings.invitation_ttl_hours)
    with invitation_unit_of_work(engine) as store:
        issued = invitations.issue_link(
            store, tenant_id=tenant_id, invitation_id=invitation_id, now=utcnow(), ttl=ttl
        )
    if issued is None:
        log.info("invitation_not_sent", invitation_id=invitation_id, reason="closed")
        return None
    invitation, token = issued
    with unit_of_work(engine, write=False) as conn:
        workspace = conn.execute(select(tenants.c.name).where(tenants.c.id == tenant_id)).scalar()
    link = invitation_link(settings, token)
    expires = f"{invitation.expires_at:%Y-%m-%d %H:%M} UTC" if invitation.expires_at else ""
    message = invitation_message(
        settings, to=invitation.email, workspace=workspace or tenant_id, link=link, expires=expires
    )
    via = send(settings, message)
    log.info(
        "invitation_sent", invitation_id=invitation_id, via="smtp" if via == "smtp" else "file"
    )
    if via != "smtp":
        # The embedded default: whoever runs `scimsync up` reads the link here.
        print(f"Invitation for {invitation.email}: {link}  (mail written to {via})", flush=True)
    return Delivered(invitation_id, invitation.email, link, via)


def mail_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.eml")) if folder.exists() else []
