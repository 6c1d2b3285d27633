"""Every `eq` lookup an IdP makes before it writes (userName, externalId, displayName of
users and groups) is answered through an index on both backends, never a scan of the
tenant's rows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import ColumnElement, Engine, Table, insert, select

from events.scim.filter import group_filter, user_filter
from storage.schema import mirror_groups, mirror_users

EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
TENANT = "t-lookups"


def _seed(engine: Engine) -> None:
    # Enough rows that a planner with statistics has a choice to get wrong.
    users = [
        {
            "tenant_id": TENANT,
            "id": f"u{i}",
            "user_name": f"user{i}",
            "user_name_ci": f"user{i}",
            "external_id": f"ext{i}",
            "display_name": f"Person {i}",
            "version": 1,
            "created_at": EPOCH,
            "updated_at": EPOCH,
            "resource": {},
        }
        for i in range(500)
    ]
    groups = [
        {
            "tenant_id": TENANT,
            "id": f"g{i}",
            "display_name": f"Team {i}",
            "display_name_ci": f"team {i}",
            "external_id": f"gext{i}",
            "version": 1,
            "created_at": EPOCH,
            "updated_at": EPOCH,
            "resource": {},
        }
        for i in range(500)
    ]
    with engine.begin() as conn:
        conn.execute(insert(mirror_users), users)
        conn.execute(insert(mirror_groups), groups)


def _plan(engine: Engine, table: Table, where: ColumnElement[bool]) -> list[str]:
    query = select(table.c.id).where(table.c.tenant_id == TENANT, where)
    with engine.connect() as conn:
        compiled = query.compile(dialect=conn.dialect)
        # Statistics of these rows, not of whatever an earlier test left in the table.
        conn.exec_driver_sql(f"ANALYZE {table.name}")
        if conn.dialect.name == "sqlite":
            params = tuple(compiled.params[name] for name in compiled.positiontup or ())
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", params)
            return [str(row[-1]) for row in rows]
        conn.exec_driver_sql("SET enable_seqscan = off")  # 500 rows: a scan would be cheaper
        rows = conn.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params)
        return [str(row[0]) for row in rows]


# (table, filter compiler, filter, the column the index must hold after tenant_id)
LOOKUPS: list[tuple[Table, Any, str, str]] = [
    (mirror_users, user_filter, 'userName eq "user7"', "user_name_ci"),
    (mirror_users, user_filter, 'externalId eq "ext7"', "external_id"),
    (mirror_users, user_filter, 'displayName eq "person 7"', "display_name"),
    (mirror_groups, group_filter, 'displayName eq "TEAM 7"', "display_name_ci"),
    (mirror_groups, group_filter, 'externalId eq "gext7"', "external_id"),
]


@pytest.mark.parametrize(
    ("table", "compile_filter", "text", "column"), LOOKUPS, ids=[t for _, _, t, _ in LOOKUPS]
)
def test_an_eq_lookup_reads_an_index_on_its_column(
    engine: Engine, table: Table, compile_filter: Any, text: str, column: str
) -> None:
    _seed(engine)
    plan = _plan(engine, table, compile_filter(text))
    if engine.dialect.name == "sqlite":
        # The primary key's (tenant_id=?) alone would read every row of the tenant.
        assert any("INDEX" in row and "(tenant_id=? AND " in row for row in plan), plan
    else:
        # Not only tenant_id (the primary key) in the index condition: the lookup column.
        conditions = " ".join(row for row in plan if "Index Cond" in row)
        assert column in conditions, plan
