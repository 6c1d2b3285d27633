"""Reads for the workspace admin's web pages: member rows with their last sync and open
invitation, and what the IdP sent that could not be applied (dead letters and the
refusals the audit log recorded)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, select

from reconciler.model import ActualMember, MemberStatus
from storage.clock import as_utc
from storage.schema import applied_versions, audit_log, dead_letters, members, workspace_groups
from storage.workspace.rows import MEMBER_COLUMNS, member_from_row

PROBLEM_LIMIT = 200


@dataclass(frozen=True)
class MemberRow:
    member: ActualMember
    last_synced: datetime | None  # when the IdP's latest version of the user was applied


@dataclass(frozen=True)
class Problem:
    """Something the IdP sent that the workspace did not apply, as the admin reads it."""

    source: str  # "dead_letter" (nothing applied) or "refusal" (applied, one part refused)
    code: str
    detail: str
    resource: str  # "User <id>" / "member:<id>"
    at: datetime


def member_rows(conn: Connection, tenant_id: str, status: MemberStatus) -> list[MemberRow]:
    av = applied_versions
    rows = conn.execute(
        select(*MEMBER_COLUMNS, av.c.applied_at)
        .select_from(
            members.outerjoin(
                av,
                and_(
                    av.c.tenant_id == members.c.tenant_id,
                    av.c.resource_type == "User",
                    av.c.resource_id == members.c.scim_user_id,
                ),
            )
        )
        .where(members.c.tenant_id == tenant_id, members.c.status == status.value)
        .order_by(members.c.email_ci)
    )
    return [
        MemberRow(member_from_row(r), as_utc(r.applied_at) if r.applied_at else None) for r in rows
    ]


def problems(conn: Connection, tenant_id: str) -> list[Problem]:
    """Newest first: dead letters (the operators see the same rows) and rule refusals."""
    dl = dead_letters
    found = [
        Problem(
            "dead_letter",
            r.error_code,
            r.reason,
            f"{r.resource_type} {r.resource_id}",
            as_utc(r.last_failed_at),
        )
        for r in conn.execute(
            select(dl)
            .where(dl.c.tenant_id == tenant_id)
            .order_by(dl.c.id.desc())
            .limit(PROBLEM_LIMIT)
        )
    ]
    refusals = conn.execute(
        select(audit_log)
        .where(audit_log.c.tenant_id == tenant_id, audit_log.c.action == "refusal")
        .order_by(audit_log.c.id.desc())
        .limit(PROBLEM_LIMIT)
    )
    for r in refusals:
        detail: dict[str, Any] = dict(r.detail or {})
        found.append(
            Problem(
                "refusal",
                str(detail.get("code", "refused")),
                str(detail.get("detail", "")),
                r.target or "",
                as_utc(r.at),
            )
        )
    return sorted(found, key=lambda p: p.at, reverse=True)


def scim_managed_count(conn: Connection, tenant_id: str) -> int:
    """Members and groups still SCIM-managed (what a paused provisioning keeps locked)."""
    m = conn.execute(
        select(func.count()).where(
            members.c.tenant_id == tenant_id, members.c.scim_user_id.is_not(None)
        )
    ).scalar_one()
    g = conn.execute(
        select(func.count()).where(
            workspace_groups.c.tenant_id == tenant_id, workspace_groups.c.scim_group_id.is_not(None)
        )
    ).scalar_one()
    return int(m) + int(g)
