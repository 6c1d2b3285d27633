"""Rule 11 in SQL: the SSO-removal cascade, streamed in keyset pages."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    or_,
    select,
    update,
)

from reconciler.cascade import CascadeReport, plan_group_sso_removal, plan_member_sso_removal
from reconciler.model import (
    ActualGroup,
    MemberStatus,
    RuleViolation,
)
from storage.schema import (
    api_tokens,
    group_memberships,
    members,
    mirror_group_members,
    tenants,
    workspace_groups,
)
from storage.workspace.rows import (
    CHUNK,
    member_from_row,
)
from storage.workspace.store import SqlWorkspaceStore

_wg, _mgm, _m, _gm = workspace_groups, mirror_group_members, members, group_memberships


# --- rule 11: removing SSO --------------------------------------------------------------


def run_sso_removal(conn: Connection, tenant_id: str, *, actor: str = "cli") -> CascadeReport:
    """The rule-11 cascade, streamed in chunks; SSO and SCIM off; SCIM tokens revoked."""
    store = SqlWorkspaceStore(conn)
    policy = store.load_policy(tenant_id)
    if policy is None:
        raise RuleViolation("unknown_tenant", f"no tenant {tenant_id}")
    report = CascadeReport(tenant_id)
    for groups in _stream(conn, _wg, tenant_id, _wg.c.scim_group_id.is_not(None)):
        actions = [
            a
            for row in groups
            for a in plan_group_sso_removal(ActualGroup(row.id, row.name, row.scim_group_id))
        ]
        _merge(report.counts, store.apply(tenant_id, actions, actor).counts)
    deactivated = MemberStatus.DEACTIVATED.value
    needs_action = or_(_m.c.scim_user_id.is_not(None), _m.c.status == deactivated)
    for rows in _stream(conn, _m, tenant_id, needs_action):
        actions = [a for row in rows for a in plan_member_sso_removal(policy, member_from_row(row))]
        _merge(report.counts, store.apply(tenant_id, actions, actor).counts)
    conn.execute(
        update(tenants)
        .where(tenants.c.id == tenant_id)
        .values(sso_configured=False, scim_enabled=False)
    )
    report.tokens_revoked = conn.execute(
        update(api_tokens)
        .where(
            api_tokens.c.tenant_id == tenant_id,
            api_tokens.c.kind == "scim",
            api_tokens.c.revoked_at.is_(None),
        )
        .values(revoked_at=datetime.now(UTC))
    ).rowcount
    return report


def _stream(
    conn: Connection, table: Any, tenant_id: str, condition: ColumnElement[bool]
) -> Iterator[Sequence[Any]]:
    """Keyset pages by id: rows may be deleted or updated between pages."""
    last = ""
    while True:
        rows = conn.execute(
            select(table)
            .where(table.c.tenant_id == tenant_id, table.c.id > last, condition)
            .order_by(table.c.id)
            .limit(CHUNK)
        ).fetchall()
        if not rows:
            return
        yield rows
        last = rows[-1].id


def _merge(total: dict[str, int], counts: dict[str, int]) -> None:
    for kind, n in counts.items():
        total[kind] = total.get(kind, 0) + n
