"""`scimsync trace TENANT WHO`: what happened to a person or group, oldest first.

WHO is an email, userName, SCIM id, externalId, member id or group name. The timeline is
the same one the admin API and the dashboard show (storage/trace.py, reconciler/trace.py).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import click

from reconciler import trace as core
from storage import trace
from storage.db import unit_of_work
from worker.cli.output import emit, json_option
from worker.connections import get_engine


def as_data(tenant_id: str, found: core.Page) -> dict[str, Any]:
    return {"tenant_id": tenant_id, **asdict(found)}


def human(data: dict[str, Any]) -> str:
    subject = data["subject"]
    lines = [
        f"{subject['label']} ({subject['kind']}, found by {subject['matched_by']})",
        data["summary"],
        "",
    ]
    for entry in data["entries"]:
        rule = f"  [rule {entry['rule']}]" if entry["rule"] else ""
        lines.append(f"{entry['at']:%Y-%m-%d %H:%M:%S}  {entry['kind']:<9} {entry['what']}{rule}")
        if entry["cause"]:
            lines.append(f"{'':30}because {entry['cause']}")
    if data["next_cursor"]:
        lines.append(f"... {data['total']} entries; --cursor {data['next_cursor']} for more")
    return "\n".join(lines)


def register(main: click.Group) -> None:
    @main.command("trace")
    @click.argument("tenant_id")
    @click.argument("who")
    @click.option("--limit", default=core.MAX_PAGE, show_default=True, help="Entries per page.")
    @click.option("--cursor", default=None, help="Continue from a previous page's next_cursor.")
    @json_option
    def trace_command(
        tenant_id: str, who: str, limit: int, cursor: str | None, as_json: bool
    ) -> None:
        """What happened to a person or group: every IdP request, what the workspace did and
        why, refusals, reconcile repairs and admin actions, oldest first."""

        with unit_of_work(get_engine(), write=False) as conn:
            found = core.page(trace.trace(conn, tenant_id, who), cursor, limit)
        emit(as_data(tenant_id, found), as_json, human)
