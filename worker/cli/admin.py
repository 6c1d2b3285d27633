"""`scimsync tenant|scim|sso` commands.

The operations call the same services as the admin API (reconciler/workspaces.py,
sso.py) in one unit of work, with "cli" as the audit log's actor, so both refuse
and audit the same things. Errors, refusals included, are reported by the CLI's one
error layer (worker/cli/errors.py).
"""

from __future__ import annotations

import secrets
import sys
from contextlib import nullcontext
from dataclasses import asdict
from typing import Any

import click

from events.rate_limit import Limit, limit_for
from reconciler import sso, workspaces
from reconciler.cascade import CASCADE_WORDS
from storage.tenants import TOKEN_PREFIX
from storage.workspace.admin_store import admin_unit_of_work
from worker import service_url
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
        with admin_unit_of_work(get_engine(), write=bool(changes)) as store:
            if changes:  # checked and audited like `tenant set-options`
                workspaces.set_options(store, tenant_id=tenant_id, changes=changes, actor=ACTOR)
            found = workspaces.get_workspace(store, tenant_id=tenant_id)
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
        data = {
            "token": issued.token,
            "base_url": f"{service_url.base_url(get_settings())}/scim/v2/{tenant_id}",
        }
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
    @click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
    @click.option("--dry-run", is_flag=True, help="Only show what the cascade would change.")
    @_json_option
    def sso_remove(tenant_id: str, yes: bool, dry_run: bool, as_json: bool) -> None:
        """Remove SSO, and with it SCIM: runs the cascade of workspace rule 11.

        Shows first what the cascade will change, and asks (unless --yes)."""

        with admin_unit_of_work(get_engine(), write=False) as store:
            preview = sso.preview_sso_removal(store, tenant_id=tenant_id)
            name = workspaces.get_workspace(store, tenant_id=tenant_id).name
        if dry_run:
            emit({**asdict(preview), "dry_run": True}, as_json, lambda d: _cascade_words(d, name))
            return
        if not yes:
            if as_json:  # a prompt would corrupt the JSON; a script says so explicitly
                raise click.UsageError("sso remove with --json needs --yes (it cannot ask)")
            click.echo(_cascade_words(asdict(preview), name))
            click.confirm(f"Remove SSO from {name}?", abort=True)
        # A bar over the cascade's actions on stderr (a large workspace takes a while).
        total = sum(preview.counts.values())
        bar = click.progressbar(length=total, label="removing SSO", file=sys.stderr)
        with admin_unit_of_work(get_engine()) as store, nullcontext() if as_json else bar:
            show = None if as_json else bar.update
            report = sso.remove_sso(store, tenant_id=tenant_id, actor=ACTOR, progress=show)
        emit(report, as_json, lambda d: _removed_words(d, name))


def _removed_words(report: Any, name: str) -> str:
    lines = [
        f"SSO and SCIM removed from {name}; {report.tokens_revoked} SCIM token(s) and"
        f" {report.webhook_secrets_revoked} webhook secret(s) revoked"
    ]
    lines += [f"  - {n} {CASCADE_WORDS.get(k, k)}" for k, n in sorted(report.counts.items())]
    return "\n".join(lines)


def _cascade_words(preview: dict[str, Any], name: str) -> str:
    """What removing SSO will do to the workspace, one line per kind of change."""
    lines = [f"Removing SSO from {name} ({preview['tenant_id']}) will:"]
    lines.append("  - turn SSO off: members sign in with a password")
    if preview["tokens_revoked"]:
        lines.append("  - turn SCIM off and revoke its token: the IdP stops provisioning")
    for kind, n in sorted(preview["counts"].items()):
        lines.append(f"  - {n} {CASCADE_WORDS.get(kind, kind)}")
    if not preview["counts"]:
        lines.append("  - change no member or group")
    return "\n".join(lines)
