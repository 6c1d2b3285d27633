"""`scimsync webhook create-secret|revoke-secrets` commands.

A webhook secret signs canonical pushes (`X-Scimsync-Signature`) and is the value
Okta Event Hooks present in `Authorization`. Unlike bearer tokens it is stored as
issued, because HMAC needs the key itself; it is shown once here all the same.
"""

from __future__ import annotations

from typing import Any

import click

from worker.settings import get_settings


def _json_option(f: Any) -> Any:
    return click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")(f)


def _run(action: Any) -> None:
    from events.errors import Refusal

    try:
        action()
    except Refusal as exc:
        raise click.ClickException(exc.detail) from None


def register(main: click.Group) -> None:
    from worker.cli import emit

    @main.group()
    def webhook() -> None:
        """Webhook pushes: signed canonical events and Okta Event Hooks."""

    @webhook.command("create-secret")
    @click.argument("tenant_id")
    @_json_option
    def create_secret(tenant_id: str, as_json: bool) -> None:
        """Issue a new webhook secret; existing ones keep working until revoked."""
        from storage import tenants
        from storage.db import get_engine, unit_of_work

        def go() -> None:
            with unit_of_work(get_engine()) as conn:
                tenants.get(conn, tenant_id)
                issued = tenants.issue_token(conn, tenant_id, "webhook", keep_secret=True)
            base = f"{get_settings().base_url}/hooks/v1/{tenant_id}"
            data = {"id": issued.id, "secret": issued.token, "events_url": f"{base}/events",
                    "okta_url": f"{base}/okta"}
            emit(data, as_json, lambda d: (
                f"webhook secret (shown once): {d['secret']}\n"
                f"signed events: POST {d['events_url']}\n"
                f"Okta Event Hook URL: {d['okta_url']} (Authorization header: the secret)"))
        _run(go)

    @webhook.command("revoke-secrets")
    @click.argument("tenant_id")
    @_json_option
    def revoke_secrets(tenant_id: str, as_json: bool) -> None:
        """Revoke every webhook secret of the workspace (after rotating, or on a leak)."""
        from storage import tenants
        from storage.db import get_engine, unit_of_work

        def go() -> None:
            with unit_of_work(get_engine()) as conn:
                tenants.get(conn, tenant_id)
                revoked = tenants.revoke_tokens(conn, tenant_id, "webhook")
            emit({"revoked": revoked}, as_json, lambda d: f"{d['revoked']} secret(s) revoked")
        _run(go)
