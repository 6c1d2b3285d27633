"""A reconcile run's planned mirror: the rows its source would change (storage/
schema_planned.py), and the mirror seen through them.

`tables(run_id)` gives the workspace loads (storage/workspace/mirror_tables.py) the
mirror as the run would leave it: each mirror table's rows the run does not change,
followed by the run's new and changed rows (UNION ALL); a user or group the source no
longer has is left out, with its memberships. The loads filter by tenant and by key
range, and both databases push those filters into each arm of the union, so a chunk
still reads by index; the keys of a chunk are listed from the tables beneath the union
(a union has no order to read), and the planned tables join the ones whose planner
statistics a run refreshes, since a run fills them just before it plans: planned blind,
PostgreSQL read the whole mirror for every chunk (100,000 users with 10% drift: a dry
run of 690 s).
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice
from typing import Any

from sqlalchemy import Connection, and_, delete, exists, select, union_all

from storage.bulk import insert_rows
from storage.schema import (
    mirror_group_members,
    mirror_groups,
    mirror_users,
    planned_group_members,
    planned_groups,
    planned_users,
)
from storage.workspace.mirror_tables import MirrorTables

USER_COLUMNS = (
    "tenant_id",
    "id",
    "user_name",
    "user_name_ci",
    "display_name",
    "given_name",
    "family_name",
    "formatted_name",
    "email_ci",
    "active",
    "has_password",
    "version",
)
GROUP_COLUMNS = ("tenant_id", "id", "display_name", "display_name_ci", "version")
MEMBER_COLUMNS = ("tenant_id", "group_id", "member_id", "member_type")
PLANNED = (planned_users, planned_groups, planned_group_members)
CHUNK = 1000


def record(
    conn: Connection,
    run_id: int,
    users: Iterable[dict[str, Any]] = (),
    groups: Iterable[dict[str, Any]] = (),
    members: Iterable[dict[str, Any]] = (),
) -> None:
    """Keep rows of the planned mirror (each with `tenant_id`; a user or group with
    `gone` True is one the source no longer has; `members`: a group's whole list),
    `CHUNK` rows a statement, so a batch's rows need not all be in memory at once."""
    for table, rows in zip(PLANNED, (users, groups, members), strict=True):
        stream = iter(rows)
        while chunk := [{**row, "run_id": run_id} for row in islice(stream, CHUNK)]:
            insert_rows(conn, table, chunk)


def clear(conn: Connection, tenant_id: str) -> None:
    """Drop the tenant's planned rows: those of the run that ends, or of one killed."""
    for table in PLANNED:
        conn.execute(delete(table).where(table.c.tenant_id == tenant_id))


def tables(run_id: int) -> MirrorTables:
    pu, pg, pgm = planned_users, planned_groups, planned_group_members
    u, g, gm = mirror_users, mirror_groups, mirror_group_members

    def planned(table: Any, row: Any) -> Any:  # the run keeps a row of this resource
        return exists().where(
            table.c.run_id == run_id, table.c.tenant_id == row.c.tenant_id, table.c.id == row.c.id
        )

    users = union_all(
        select(*[u.c[c] for c in USER_COLUMNS]).where(~planned(pu, u)),
        select(*[pu.c[c] for c in USER_COLUMNS]).where(pu.c.run_id == run_id, pu.c.gone.is_(False)),
    ).subquery("planned_mirror_users")
    groups = union_all(
        select(*[g.c[c] for c in GROUP_COLUMNS]).where(~planned(pg, g)),
        select(*[pg.c[c] for c in GROUP_COLUMNS]).where(
            pg.c.run_id == run_id, pg.c.gone.is_(False)
        ),
    ).subquery("planned_mirror_groups")
    group_replaced = exists().where(
        pg.c.run_id == run_id, pg.c.tenant_id == gm.c.tenant_id, pg.c.id == gm.c.group_id
    )
    member_gone = exists().where(
        and_(pu.c.run_id == run_id, pu.c.tenant_id == gm.c.tenant_id),
        pu.c.id == gm.c.member_id,
        pu.c.gone.is_(True),
    )
    members = union_all(
        select(*[gm.c[c] for c in MEMBER_COLUMNS]).where(~group_replaced, ~member_gone),
        select(*[pgm.c[c] for c in MEMBER_COLUMNS]).where(pgm.c.run_id == run_id),
    ).subquery("planned_mirror_group_members")

    def new_keys(table: Any) -> Any:  # the run's ids, in its primary key's order
        return (
            select(table.c.tenant_id, table.c.id)
            .where(table.c.run_id == run_id, table.c.gone.is_(False))
            .subquery()
        )

    return MirrorTables(
        users, groups, members, user_keys=(u, new_keys(pu)), group_keys=(g, new_keys(pg))
    )
