"""`scimsync tenant list|show|set-idp|set-options`, `scimsync members`, `scimsync groups`:
a workspace seen and changed from the command line.

Thin: each command calls the services the admin API calls (reconciler/workspaces.py,
admin.py) in one unit of work and prints the result as a table, or with `--json` as
the admin API's bodies (events/admin/models.py) where the API has the same view.
"""

from __future__ import annotations

from typing import Any, cast

import click

from events.admin import models
from reconciler import admin, tenant_options, workspaces
from reconciler.admin_store import WorkspaceSummary
from reconciler.model import IdpKind, MemberStatus
from storage.workspace.admin_store import admin_unit_of_work
from worker.cli.output import emit, fields, json_option, table
from worker.connections import get_engine

ACTOR = "cli"  # the audit log's "who"

WORKSPACE_COLUMNS = [
    ("name", "NAME"),
    ("id", "ID"),
    ("idp", "IDP"),
    ("sso_domains", "SSO DOMAINS"),
    ("sso_configured", "SSO"),
    ("scim_enabled", "SCIM"),
    ("active", "ACTIVE"),
    ("pending", "PENDING"),
    ("deactivated", "DEACTIVATED"),
    ("groups", "GROUPS"),
    ("created_at", "CREATED (UTC)"),
]


def workspace_json(found: WorkspaceSummary) -> dict[str, Any]:
    return {
        "id": found.id,
        "name": found.name,
        "idp": found.idp,
        "sso_domains": list(found.sso_domains),
        "sso_configured": found.sso_configured,
        "scim_enabled": found.scim_enabled,
        "owner_email": found.owner_email,
        "options": tenant_options.flattened(found.options),
        "members": {status.value: n for status, n in found.members.items()},
        "groups": found.groups,
        "created_at": found.created_at.isoformat(),
    }


def _row(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, **data["members"]}


def _show(data: dict[str, Any]) -> str:
    members = data["members"]
    options = data["options"]
    return fields(
        [
            ("workspace", f"{data['name']} ({data['id']})"),
            ("IdP", data["idp"]),
            ("SSO", "on" if data["sso_configured"] else "off"),
            ("SSO domains", data["sso_domains"]),
            ("SCIM", "on" if data["scim_enabled"] else "off"),
            ("owner", data["owner_email"]),
            (
                "members",
                f"{members['active']} active (billed), {members['pending']} pending, "
                f"{members['deactivated']} deactivated",
            ),
            ("groups", data["groups"]),
            ("options", ", ".join(f"{k}={v}" for k, v in options.items()) or "defaults"),
            ("created", data["created_at"]),
        ]
    )


def _option_flag(key: str) -> str:
    return "--" + key.replace(".", "-").replace("_", "-")


def _options_decorator(f: Any) -> Any:
    """One `--<option>` per known tenant option, from reconciler/tenant_options.py."""
    for spec in reversed(tenant_options.OPTIONS):
        kind: Any = click.Choice(spec.choices) if spec.choices else spec.number
        dest = spec.key.replace(".", "__")  # a parameter name cannot hold a dot
        f = click.option(_option_flag(spec.key), dest, type=kind, help=spec.help)(f)
    return f


def register(main: click.Group) -> None:
    tenant = cast(click.Group, main.commands["tenant"])

    @tenant.command("list")
    @json_option
    def tenant_list(as_json: bool) -> None:
        """Every workspace: id, IdP, SSO and SCIM, members by status, groups."""
        with admin_unit_of_work(get_engine(), write=False) as store:
            found = [workspace_json(w) for w in workspaces.list_workspaces(store)]
        emit(found, as_json, lambda d: table([_row(r) for r in d], WORKSPACE_COLUMNS))

    @tenant.command("show")
    @click.argument("tenant_id")
    @json_option
    def tenant_show(tenant_id: str, as_json: bool) -> None:
        """One workspace: SSO domains, SCIM, owner, member counts, options."""
        with admin_unit_of_work(get_engine(), write=False) as store:
            found = workspace_json(workspaces.get_workspace(store, tenant_id=tenant_id))
        emit(found, as_json, _show)

    @tenant.command("set-idp")
    @click.argument("tenant_id")
    @click.argument("idp", type=click.Choice([kind.value for kind in IdpKind]))
    @json_option
    def tenant_set_idp(tenant_id: str, idp: str, as_json: bool) -> None:
        """Which IdP sends this workspace's SCIM requests (how they are read)."""
        with admin_unit_of_work(get_engine()) as store:
            found = workspace_json(
                workspaces.set_idp(store, tenant_id=tenant_id, idp=idp, actor=ACTOR)
            )
        emit(found, as_json, lambda d: f"workspace {d['id']} ({d['name']}): IdP {d['idp']}")

    @tenant.command("set-options")
    @click.argument("tenant_id")
    @_options_decorator
    @click.option(
        "--unset",
        "unset",
        multiple=True,
        type=click.Choice([spec.key for spec in tenant_options.OPTIONS]),
        help="Back to the default for this option (repeatable).",
    )
    @json_option
    def tenant_set_options(
        tenant_id: str, unset: tuple[str, ...], as_json: bool, **given: Any
    ) -> None:
        """Set or unset the workspace's options; with none given, show them."""
        changes: dict[str, Any] = dict.fromkeys(unset)
        changes.update(
            {key.replace("__", "."): value for key, value in given.items() if value is not None}
        )
        with admin_unit_of_work(get_engine(), write=bool(changes)) as store:
            if changes:
                found = workspaces.set_options(
                    store, tenant_id=tenant_id, changes=changes, actor=ACTOR
                )
            else:
                found = workspaces.get_workspace(store, tenant_id=tenant_id)
        data = {"id": found.id, "options": tenant_options.flattened(found.options)}
        emit(
            data,
            as_json,
            lambda d: (
                "\n".join(f"{k} = {v}" for k, v in d["options"].items())
                or "no options set (service-wide defaults)"
            ),
        )

    @main.command("members")
    @click.argument("tenant_id")
    @click.option(
        "--status",
        type=click.Choice([s.value for s in MemberStatus]),
        default=None,
        help="Only one tab of the Members page.",
    )
    @json_option
    def members(tenant_id: str, status: str | None, as_json: bool) -> None:
        """A workspace's members: email, name, status, role, who manages them."""
        with admin_unit_of_work(get_engine(), write=False) as store:
            idp = workspaces.get_workspace(store, tenant_id=tenant_id).idp
            found, counts = admin.list_members(
                store, tenant_id=tenant_id, status=MemberStatus(status) if status else None
            )
        body = models.MemberList.of(found, counts).model_dump(mode="json")

        def human(d: dict[str, Any]) -> str:
            rows = [
                {**m, "managed_by": idp if m["scim_managed"] else "workspace"} for m in d["members"]
            ]
            c = d["counts"]
            columns = [
                ("email", "EMAIL"),
                ("display_name", "NAME"),
                ("status", "STATUS"),
                ("role", "ROLE"),
                ("managed_by", "MANAGED BY"),
                ("id", "ID"),
            ]
            summary = (
                f"{c['active']} active (billed), {c['pending']} pending, "
                f"{c['deactivated']} deactivated"
            )
            return f"{table(rows, columns)}\n{summary}"

        emit(body, as_json, human)

    @main.command("groups")
    @click.argument("tenant_id")
    @json_option
    def groups(tenant_id: str, as_json: bool) -> None:
        """A workspace's groups: name, member count, who manages them, folder permissions."""
        with admin_unit_of_work(get_engine(), write=False) as store:
            idp = workspaces.get_workspace(store, tenant_id=tenant_id).idp
            views = admin.list_groups(store, tenant_id=tenant_id)
        body = models.GroupList(groups=[models.GroupOut.of(v) for v in views])

        def human(d: dict[str, Any]) -> str:
            rows = [
                {
                    **g,
                    "managed_by": idp if g["scim_managed"] else "workspace",
                    "permissions": [f"{p['path']} ({p['access']})" for p in g["permissions"]],
                }
                for g in d["groups"]
            ]
            columns = [
                ("name", "NAME"),
                ("member_count", "MEMBERS"),
                ("managed_by", "MANAGED BY"),
                ("permissions", "PERMISSIONS"),
                ("id", "ID"),
            ]
            return table(rows, columns)

        emit(body.model_dump(mode="json"), as_json, human)
