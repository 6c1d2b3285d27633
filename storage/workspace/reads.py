"""Reads behind rules 8 and 9 (billing, the member tabs) for the admin API."""

from __future__ import annotations

from sqlalchemy import (
    Connection,
    func,
    select,
)

from reconciler import rules
from reconciler.model import (
    ActualMember,
    MemberStatus,
)
from storage.schema import (
    group_memberships,
    members,
    mirror_group_members,
    workspace_groups,
)
from storage.workspace.rows import (
    member_from_row,
)

_wg, _mgm, _m, _gm = workspace_groups, mirror_group_members, members, group_memberships


# --- rules 8 and 9: reads for the admin API ------------------------------------------------


def count_billable_members(conn: Connection, tenant_id: str) -> int:
    statuses = [status.value for status in rules.BILLABLE_STATUSES]
    return conn.execute(
        select(func.count())
        .select_from(_m)
        .where(_m.c.tenant_id == tenant_id, _m.c.status.in_(statuses))
    ).scalar_one()


def find_member(
    conn: Connection, tenant_id: str, *, member_id: str | None = None, email: str | None = None
) -> ActualMember | None:
    """One member by id, or else by email (case-insensitive)."""
    condition = (
        _m.c.id == member_id if member_id is not None else _m.c.email_ci == (email or "").lower()
    )
    row = conn.execute(select(_m).where(_m.c.tenant_id == tenant_id, condition)).first()
    return member_from_row(row) if row is not None else None


def list_members(
    conn: Connection,
    tenant_id: str,
    status: MemberStatus | None = None,
    *,
    after: str | None = None,
    limit: int | None = None,
) -> list[ActualMember]:
    """By email; a page of them with `after` (keyset on the unique email_ci) and `limit`."""
    condition = _m.c.status == status.value if status is not None else _m.c.id.is_not(None)
    query = select(_m).where(_m.c.tenant_id == tenant_id, condition).order_by(_m.c.email_ci)
    if after is not None:
        query = query.where(_m.c.email_ci > after)
    if limit is not None:
        query = query.limit(limit)
    return [member_from_row(row) for row in conn.execute(query)]
