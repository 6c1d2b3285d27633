"""`scimsync tenant|scim|sso` commands.

The operations call the same services as the admin API (reconciler/workspaces.py,
sso.py) in one unit of work, with "cli" as the audit log's actor, so both refuse
and audit the same things. Errors, refusals included, are reported by the CLI's one
error layer (worker/cli/errors.py).
"""

from __future__ import annotations

import secrets
from typing import Any

import click

from events.rate_limit import Limit, limit_for
from reconciler import sso, workspaces
from storage import tenants
from storage.db import unit_of_work
from storage.tenants import TOKEN_PREFIX
from storage.workspace.admin_store import admin_unit_of_work
from worker.cli.output import emit
from worker.connections import get_engine
from worker.safety import new_secret_key
from worker.settings import get_settings

ACTOR = "cli"  # the audit log's "who" for every command here


def _json_option(f: Any) -> Any:
    return click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")(f)


def register(main: click.Group) -> None:

    @main.group()
    def tenant() -> None:
        """Workspaces (tenants)."""

    @tenant.command("create")
    @click.option("--name", required=True)
    @click.option("--sso-domain", "sso_domains", multiple=True, required=True)
    @click.option(
        "--idp",
        type=click.Choice(["okta", "entra", "google", "onelogin", "jumpcloud", "ping", "generic"]),
        default="generic",
    )
    @click.option("--owner-email", default=None)
    @_json_option
    def tenant_create(
        name: str, sso_domains: tuple[str, ...], idp: str, owner_email: str | None, as_json: bool
    ) -> None:
        """Create a workspace with SSO configured; prints its id and admin token (shown once)."""

        with admin_unit_of_work(get_engine()) as store:
            created = workspaces.create_workspace(
                store,
                name=name,
                sso_domains=sso_domains,
                idp=idp,
                owner_email=owner_email,
                actor=ACTOR,
            )
        emit(
            created,
            as_json,
            lambda d: (
                f"tenant {d.id} created ({d.name}, idp {d.idp})\n"
                f"admin token (shown once): {d.admin_token}"
            ),
        )

    @tenant.command("rotate-admin-token")
    @click.argument("tenant_id")
    @_json_option
    def tenant_rotate_admin(tenant_id: str, as_json: bool) -> None:
        """Replace the admin token; the old one stops working at once."""

        with admin_unit_of_work(get_engine()) as store:
            issued = workspaces.rotate_admin_token(store, tenant_id=tenant_id, actor=ACTOR)
        emit(
            {"id": tenant_id, "admin_token": issued.token},
            as_json,
            lambda d: f"admin token (shown once): {d['admin_token']}",
        )

    @tenant.command("limits")
    @click.argument("tenant_id")
    @click.option(
        "--per-second", type=float, default=None, help="Requests a second (0 or less: no limit)."
    )
    @click.option(
        "--burst", type=click.IntRange(min=1), default=None, help="Requests allowed at once."
    )
    @click.option("--reset", is_flag=True, help="Back to the service-wide defaults.")
    @_json_option
    def tenant_limits(
        tenant_id: str, per_second: float | None, burst: int | None, reset: bool, as_json: bool
    ) -> None:
        """Show or set the tenant's rate limit (SCIM and webhooks share it)."""

        given = {"rate_limit_per_second": per_second, "rate_limit_burst": burst}
        changes: dict[str, Any] = dict.fromkeys(given) if reset else {}  # None: remove
        changes.update({k: v for k, v in given.items() if v is not None})
        with unit_of_work(get_engine()) as conn:
            if changes:
                tenants.set_options(conn, tenant_id, changes)
            found = tenants.get(conn, tenant_id)
        settings = get_settings()
        defaults = Limit(settings.rate_limit_per_second, settings.rate_limit_burst)
        limit = limit_for(found.options, defaults)
        data = {
            "id": tenant_id,
            "per_second": limit.per_second if limit else None,
            "burst": limit.burst if limit else None,
        }
        emit(
            data,
            as_json,
            lambda d: (
                "no rate limit"
                if d["per_second"] is None
                else f"{d['per_second']:g} requests/s, bursts of {d['burst']}"
            ),
        )

    @main.command("operator-token")
    @_json_option
    def operator_token(as_json: bool) -> None:
        """Print a new random operator token for SCIMSYNC_OPERATOR_TOKEN (stored nowhere)."""

        token = TOKEN_PREFIX["operator"] + secrets.token_urlsafe(32)
        emit(
            {"operator_token": token},
            as_json,
            lambda d: f"SCIMSYNC_OPERATOR_TOKEN={d['operator_token']}",
        )

    @main.command("secret-key")
    @_json_option
    def secret_key(as_json: bool) -> None:
        """Print a new key for SCIMSYNC_SECRET_KEY, which encrypts webhook secrets at rest
        (stored nowhere). To rotate: put the new key first, the old one after a comma."""

        key = new_secret_key()
        emit({"secret_key": key}, as_json, lambda d: f"SCIMSYNC_SECRET_KEY={d['secret_key']}")

    @main.group()
    def scim() -> None:
        """The SCIM integration of a workspace."""

    def _scim_token(tenant_id: str, service: Any, as_json: bool) -> None:
        with admin_unit_of_work(get_engine()) as store:
            issued = service(store, tenant_id=tenant_id, actor=ACTOR)
        data = {"token": issued.token, "base_url": f"{get_settings().base_url}/scim/v2/{tenant_id}"}
        emit(
            data,
            as_json,
            lambda d: f"SCIM base URL: {d['base_url']}\nbearer token (shown once): {d['token']}",
        )

    @scim.command("enable")
    @click.argument("tenant_id")
    @_json_option
    def scim_enable(tenant_id: str, as_json: bool) -> None:
        """Enable SCIM (needs SSO, refused when already on); prints the bearer token once."""
        _scim_token(tenant_id, sso.enable_scim, as_json)

    @scim.command("rotate-token")
    @click.argument("tenant_id")
    @_json_option
    def scim_rotate(tenant_id: str, as_json: bool) -> None:
        """Replace the SCIM bearer token; the old one stops working at once."""
        _scim_token(tenant_id, sso.rotate_scim_token, as_json)

    @main.group("sso")
    def sso_commands() -> None:
        """Single sign-on configuration."""

    @sso_commands.command("remove")
    @click.argument("tenant_id")
    @_json_option
    def sso_remove(tenant_id: str, as_json: bool) -> None:
        """Remove SSO, and with it SCIM: runs the cascade of workspace rule 11."""

        with admin_unit_of_work(get_engine()) as store:
            report = sso.remove_sso(store, tenant_id=tenant_id, actor=ACTOR)
        emit(
            report,
            as_json,
            lambda d: (
                f"SSO and SCIM removed; {d.tokens_revoked} SCIM token(s) and "
                f"{d.webhook_secrets_revoked} webhook secret(s) revoked; "
                f"cascade: {d.counts or 'nothing to change'}"
            ),
        )
