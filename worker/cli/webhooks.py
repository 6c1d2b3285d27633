"""`scimsync webhook create-secret|revoke-secrets` commands.

A webhook secret signs canonical pushes (`X-Scimsync-Signature`) and is the value
Okta Event Hooks present in `Authorization`. Unlike bearer tokens it is stored as
issued, because HMAC needs the key itself; it is shown once here all the same.
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
from worker.connections import get_engine
from worker.settings import get_settings


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
        """Issue a new webhook secret; existing ones keep working until revoked."""

        with unit_of_work(get_engine()) as conn:
            tenants.get(conn, tenant_id)
            issued = tenants.issue_token(conn, tenant_id, "webhook", keep_secret=True)
        base = f"{service_url.base_url(get_settings())}/hooks/v1/{tenant_id}"
        data = {
            "id": issued.id,
            "secret": issued.token,
            "events_url": f"{base}/events",
            "okta_url": f"{base}/okta",
        }
        emit(
            data,
            as_json,
            lambda d: (
                f"webhook secret (shown once): {d['secret']}\n"
                f"signed events: POST {d['events_url']}\n"
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
        """Revoke the workspace's webhook secrets, all of them or all but --keep."""

        with unit_of_work(get_engine()) as conn:
            tenants.get(conn, tenant_id)
            live = (
                (api_tokens.c.tenant_id == tenant_id)
                & (api_tokens.c.kind == "webhook")
                & api_tokens.c.revoked_at.is_(None)
            )
            if keep_id:
                live &= api_tokens.c.id != keep_id
            revoked = conn.execute(
                update(api_tokens).where(live).values(revoked_at=utcnow())
            ).rowcount
        emit({"revoked": revoked}, as_json, lambda d: f"{d['revoked']} secret(s) revoked")
