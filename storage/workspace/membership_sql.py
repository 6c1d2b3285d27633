"""Desired SCIM memberships in SQL: which (group, member) pairs the mirror asks for that
the workspace lacks, and which it has that the mirror no longer asks for."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Select,
    and_,
    any_,
    bindparam,
    except_,
    exists,
    func,
    literal,
    select,
    union_all,
)
from sqlalchemy.dialects import postgresql

from storage.schema import (
    group_memberships,
    members,
    mirror_group_members,
    workspace_groups,
)

# --- memberships -------------------------------------------------------------------------
# Desired SCIM memberships: (workspace group, member) for every mirror group member
# who is a linked workspace member, in the workspace group linked to that mirror
# group. A group is synced set-based (one INSERT ... SELECT, one DELETE); a batch
# of users reads its few (group, member) pairs with two indexed queries.

_wg, _mgm, _m, _gm = workspace_groups, mirror_group_members, members, group_memberships


def mirror_to_group(mgm: FromClause = _mgm) -> ColumnElement[bool]:
    return and_(_wg.c.tenant_id == mgm.c.tenant_id, _wg.c.scim_group_id == mgm.c.group_id)


def mirror_to_member(mgm: FromClause = _mgm) -> ColumnElement[bool]:
    return and_(_m.c.tenant_id == mgm.c.tenant_id, _m.c.scim_user_id == mgm.c.member_id)


MIRROR_TO_GROUP = mirror_to_group()


@dataclass(frozen=True)
class KeySet:
    """The resource ids one load is for, and how SQL finds their rows.

    By default the rows of exactly `ids` (`IN (...)`). A full reconcile streams a tenant
    in key order, so its chunk is every id in [low, high]: with `bounds` the loads are
    index range scans instead (rows of ids in the range but not in `ids` are ignored).
    """

    ids: Sequence[str]
    bounds: tuple[str, str] | None = None
    as_array: bool = False  # PostgreSQL: `= ANY(array)`, see storage/sql.py `one_of`

    def match(self, column: ColumnElement[Any]) -> ColumnElement[bool]:
        if self.bounds is not None:
            return column.between(*self.bounds)
        if self.as_array:
            array = bindparam(None, list(self.ids), type_=postgresql.ARRAY(column.type))
            return column == any_(array)
        return column.in_(self.ids)


def user_membership_drift(tenant_id: str, keys: KeySet, mgm: FromClause = _mgm) -> Select[Any]:
    """(member id, n): how many SCIM memberships are missing or extra for each member linked
    to these SCIM users; members in step have no row, so a chunk in step sends back nothing.

    Both sides are read from the chunk's members (index lookups, never a scan of the
    tenant's memberships) and compared as sets (EXCEPT), like `_user_pairs`."""
    chunk = (
        select(_m.c.id, _m.c.scim_user_id)
        .where(_m.c.tenant_id == tenant_id, keys.match(_m.c.scim_user_id))
        .cte("chunk")
    )
    to_mirror = and_(mgm.c.tenant_id == tenant_id, mgm.c.member_id == chunk.c.scim_user_id)
    desired = (
        select(chunk.c.id.label("member_id"), _wg.c.id.label("group_id"))
        .select_from(chunk.join(mgm, to_mirror).join(_wg, mirror_to_group(mgm)))
        # The chunk's keys again, on the mirror: a planned mirror is a union, and only a
        # constant filter reaches into its arms (a join key does not), so without it the
        # tenant's every membership was read for each chunk.
        .where(mgm.c.member_type == "User", keys.match(mgm.c.member_id))
        .cte("desired")
    )
    to_held = and_(_gm.c.tenant_id == tenant_id, _gm.c.member_id == chunk.c.id)
    existing = (
        select(_gm.c.member_id, _gm.c.group_id, _gm.c.source)
        .select_from(chunk.join(_gm, to_held))
        .cte("existing")
    )
    want = select(desired.c.member_id, desired.c.group_id)
    have = select(existing.c.member_id, existing.c.group_id)
    missing = except_(want, have).subquery("missing")
    extra = except_(have.where(existing.c.source == "scim"), want).subquery("extra")
    drift = union_all(select(missing.c.member_id), select(extra.c.member_id)).subquery("drift")
    return select(drift.c.member_id, func.count()).group_by(drift.c.member_id)


def missing_in_groups(
    tenant_id: str, group_ids: Sequence[str], mgm: FromClause = _mgm
) -> Select[Any]:
    """(group_id, member_id) the mirror asks for that these groups lack."""
    existing = group_memberships.alias("existing")
    return (
        select(_wg.c.id.label("group_id"), _m.c.id.label("member_id"))
        .select_from(_wg.join(mgm, mirror_to_group(mgm)).join(_m, mirror_to_member(mgm)))
        .where(_wg.c.tenant_id == tenant_id, _wg.c.id.in_(group_ids), mgm.c.member_type == "User")
        .where(
            ~exists().where(
                existing.c.tenant_id == tenant_id,
                existing.c.group_id == _wg.c.id,
                existing.c.member_id == _m.c.id,
            )
        )
    )


def extra_in_groups(
    tenant_id: str, group_ids: Sequence[str], mgm: FromClause = _mgm
) -> ColumnElement[bool]:
    """SCIM memberships of these groups that the mirror no longer asks for."""
    desired = (
        select(literal(1))
        .select_from(_wg.join(mgm, mirror_to_group(mgm)).join(_m, mirror_to_member(mgm)))
        .where(_wg.c.tenant_id == tenant_id, mgm.c.member_type == "User")
        .where(_wg.c.id == _gm.c.group_id, _m.c.id == _gm.c.member_id)
        .correlate(_gm)
    )
    return and_(
        _gm.c.tenant_id == tenant_id,
        _gm.c.source == "scim",
        _gm.c.group_id.in_(group_ids),
        ~exists(desired),
    )
