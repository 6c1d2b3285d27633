"""`scimsync webhook create-secret|create-okta-secret|revoke-secrets` commands.

Two kinds of secret, never one for both: a signing key signs canonical pushes
(`X-Scimsync-Signature`); HMAC needs the key itself, so it is kept sealed with
SCIMSYNC_SECRET_KEY (storage/sealed.py). An Okta Event Hook secret is what Okta presents
in `Authorization`: a bearer token, stored as a hash. Both are shown once.
"""

from __future__ import annotations

from typing import Any

import click
from sqlalchemy import update

from storage import tenants
from storage.clock import utcnow
from storage.db import unit_of_work
from storage.schema import api_tokens
from worker import service_url
from worker.cli.output import emit
from worker.connections import get_engine, get_sealer
from worker.settings import get_settings

WEBHOOK_KINDS = ("webhook", "okta_hook")


def _json_option(f: Any) -> Any:
    return click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")(f)


def register(main: click.Group) -> None:

    @main.group()
    def webhook() -> None:
        """Webhook pushes: signed canonical events and Okta Event Hooks."""

    @webhook.command("create-secret")
    @click.argument("tenant_id")
    @_json_option
    def create_secret(tenant_id: str, as_json: bool) -> None:
        """Issue a new signing key for canonical pushes; existing ones keep working until
        revoked."""

        with unit_of_work(get_engine()) as conn:
            tenants.get(conn, tenant_id)
            issued = tenants.issue_token(conn, tenant_id, "webhook", sealer=get_sealer())
        base = f"{service_url.base_url(get_settings())}/hooks/v1/{tenant_id}"
        data = {
            "id": issued.id,
            "secret": issued.token,
            "events_url": f"{base}/events",
        }
        emit(
            data,
            as_json,
            lambda d: (
                f"webhook signing secret (shown once): {d['secret']}\n"
                f"signed events: POST {d['events_url']}"
            ),
        )

    @webhook.command("create-okta-secret")
    @click.argument("tenant_id")
    @_json_option
    def create_okta_secret(tenant_id: str, as_json: bool) -> None:
        """Issue a new Okta Event Hook secret (the Authorization header Okta sends)."""

        with unit_of_work(get_engine()) as conn:
            tenants.get(conn, tenant_id)
            issued = tenants.issue_token(conn, tenant_id, "okta_hook")
        base = f"{service_url.base_url(get_settings())}/hooks/v1/{tenant_id}"
        data = {
            "id": issued.id,
            "secret": issued.token,
            "okta_url": f"{base}/okta",
        }
        emit(
            data,
            as_json,
            lambda d: (
                f"Okta Event Hook secret (shown once): {d['secret']}\n"
                f"Okta Event Hook URL: {d['okta_url']} (Authorization header: the secret)"
            ),
        )

    @webhook.command("revoke-secrets")
    @click.argument("tenant_id")
    @click.option(
        "--keep",
        "keep_id",
        default=None,
        help="Id of a secret to leave live (the new one, when rotating).",
    )
    @_json_option
    def revoke_secrets(tenant_id: str, keep_id: str | None, as_json: bool) -> None:
        """Revoke the workspace's webhook and Okta hook secrets, all or all but --keep."""

        with unit_of_work(get_engine()) as conn:
            tenants.get(conn, tenant_id)
            live = (
                (api_tokens.c.tenant_id == tenant_id)
                & api_tokens.c.kind.in_(WEBHOOK_KINDS)
                & api_tokens.c.revoked_at.is_(None)
            )
            if keep_id:
                live &= api_tokens.c.id != keep_id
            revoked = conn.execute(
                update(api_tokens).where(live).values(revoked_at=utcnow())
            ).rowcount
        emit({"revoked": revoked}, as_json, lambda d: f"{d['revoked']} secret(s) revoked")
