"""After a bulk import the planner gets fresh statistics (storage/workspace/statistics.py):
a group sync then reads the group's members by index instead of every member of the
tenant per group, the plan that made a 100,000-user import crawl."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, text

from storage.bulk import insert_rows
from storage.db import unit_of_work
from storage.schema import members, mirror_group_members, mirror_groups, workspace_groups
from storage.workspace.membership_sql import missing_in_groups
from storage.workspace.statistics import analyze, refresh_statistics, stale_statistics
from tests.support.workspace import linked_member_row

NOW = datetime(2026, 12, 5, tzinfo=UTC)
TENANT = "t-stats"
MEMBERS = 20_000
GROUPS = 40


@pytest.fixture
def no_statistics(engine: Engine) -> Engine:
    """Statistics of empty tables, not of whatever an earlier test left in them."""
    with unit_of_work(engine) as conn:
        if conn.dialect.name == "postgresql":
            analyze(conn, ["members", "mirror_group_members", "workspace_groups"])
        elif conn.execute(text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")).first():
            conn.execute(text("DELETE FROM sqlite_stat1"))
    return engine


def _import(engine: Engine, first: int, count: int) -> None:
    """`count` members linked to SCIM users, each in one of the SCIM groups."""
    people = range(first, first + count)
    with unit_of_work(engine) as conn:
        if first == 0:
            insert_rows(conn, mirror_groups, [_mirror_group(g) for g in range(GROUPS)])
            insert_rows(conn, workspace_groups, [_group(g) for g in range(GROUPS)])
        insert_rows(conn, members, [_member(i) for i in people])
        insert_rows(
            conn,
            mirror_group_members,
            [
                {"tenant_id": TENANT, "group_id": f"mg{i % GROUPS}", "member_id": f"su{i}"}
                for i in people
            ],
        )


def _mirror_group(g: int) -> dict[str, object]:
    name = f"Team {g}"
    return {
        "tenant_id": TENANT,
        "id": f"mg{g}",
        "display_name": name,
        "display_name_ci": name.lower(),
        "version": 1,
        "created_at": NOW,
        "updated_at": NOW,
        "resource": {"displayName": name},
    }


def _group(g: int) -> dict[str, object]:
    name = f"Team {g} (SCIM)"
    return {
        "tenant_id": TENANT,
        "id": f"wg{g}",
        "name": name,
        "name_ci": name.lower(),
        "scim_group_id": f"mg{g}",
        "created_at": NOW,
    }


def _member(i: int) -> dict[str, object]:
    return linked_member_row(TENANT, f"m{i}", f"su{i}", f"person{i}@acme.test", NOW)


def _group_sync_plan(engine: Engine) -> str:
    # a chunk of groups, as an import's group sync asks for them
    query = missing_in_groups(TENANT, [f"wg{g}" for g in range(GROUPS)])
    with engine.connect() as conn:
        sql = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
        if conn.dialect.name == "postgresql":
            return "\n".join(conn.execute(text("EXPLAIN " + sql)).scalars())
        return "\n".join(row[3] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))


def test_a_bulk_import_is_analyzed_once_and_the_group_sync_reads_by_index(
    no_statistics: Engine,
) -> None:
    engine = no_statistics
    _import(engine, 0, MEMBERS)
    with engine.connect() as conn:
        stale = set(stale_statistics(conn))
    assert {"members", "mirror_group_members"} <= stale

    with unit_of_work(engine) as conn:
        refreshed = set(refresh_statistics(conn))

    assert refreshed == stale
    with engine.connect() as conn:
        assert stale_statistics(conn) == []  # fresh: the next batch pays a catalog read only
    plan = _group_sync_plan(engine)
    if engine.dialect.name == "postgresql":
        assert "Seq Scan on members" not in plan, plan
        assert "ix_members_scim_user" in plan, plan
    else:
        assert "USING INDEX ix_members_scim_user (tenant_id=? AND scim_user_id=?)" in plan, plan
        assert "SCAN members" not in plan, plan
        by_group = "mirror_group_members USING INDEX sqlite_autoindex_mirror_group_members_1"
        assert f"SEARCH {by_group} (tenant_id=? AND group_id=?)" in plan, plan
        # Rows per tenant as they are: a sampled ANALYZE recorded this tenant's 20,000 rows
        # as 2,001, and at 500,000 a group sync then read the tenant's every membership per
        # chunk of groups, its own group's being "more" (40x the time for 10x the users).
        with engine.connect() as conn:
            stat = "SELECT stat FROM sqlite_stat1 WHERE idx = 'ix_mirror_group_members_member'"
            per_tenant = conn.execute(text(stat)).scalar_one().split()[1]
        assert int(per_tenant) == MEMBERS


def test_statistics_go_stale_again_only_when_a_table_more_than_doubles(
    no_statistics: Engine,
) -> None:
    engine = no_statistics
    _import(engine, 0, 1_000)
    with unit_of_work(engine) as conn:
        refresh_statistics(conn)
    _import(engine, 1_000, 500)  # half again: the plans still fit
    with engine.connect() as conn:
        assert "members" not in stale_statistics(conn)
    _import(engine, 1_500, 2_000)  # 3,500 rows against 1,000 analyzed
    with engine.connect() as conn:
        assert "members" in stale_statistics(conn)
