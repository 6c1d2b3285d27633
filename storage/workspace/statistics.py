"""Planner statistics: query plans need fresh statistics after a bulk import, on
PostgreSQL and SQLite."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import (
    Connection,
    bindparam,
    text,
)

from storage.schema import (
    applied_versions,
    group_memberships,
    invitations,
    members,
    mirror_group_members,
    mirror_groups,
    mirror_users,
    planned_group_members,
    planned_groups,
    planned_users,
    reconcile_source_keys,
    workspace_groups,
)

# --- planner statistics ------------------------------------------------------------------

_ANALYZED_TABLES = (
    members,
    group_memberships,
    workspace_groups,
    invitations,
    applied_versions,
    mirror_users,
    mirror_group_members,
    mirror_groups,
    reconcile_source_keys,  # a file / SCIM source's import: looked up by key each batch
    planned_users,  # a run's planned mirror (storage/planned_mirror.py): filled, then read
    planned_groups,
    planned_group_members,
)
_STALE_STATS = text("""
    SELECT c.relname FROM pg_class c
    WHERE c.relname IN :names AND c.relnamespace = to_regnamespace(current_schema())::oid
      AND (pg_relation_size(c.oid) / current_setting('block_size')::int > 2 * c.relpages + 8
           OR (c.reltuples < 0 AND pg_relation_size(c.oid) > 0))
""").bindparams(bindparam("names", expanding=True))
_SQLITE_STATS = text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'")
_SQLITE_RECORDED = text("SELECT tbl, max(CAST(stat AS INTEGER)) FROM sqlite_stat1 GROUP BY tbl")
_SQLITE_FINGERPRINT = text(
    "SELECT group_concat(s, ';') FROM "
    "(SELECT tbl || ' ' || coalesce(idx, '') || ' ' || stat AS s FROM sqlite_stat1 ORDER BY 1)"
)


def refresh_statistics(conn: Connection) -> list[str]:
    """ANALYZE the tables that more than doubled in size since their last ANALYZE,
    or were never analyzed; returns them. Call it inside a writing transaction.

    A bulk import outruns autovacuum (or it is off), and SQLite has no statistics
    until someone runs ANALYZE: planned blind, the membership joins become nested
    loops over whole tables (a group sync then reads every member of the tenant per
    group). Growth-triggered, this runs a logarithmic number of times; on PostgreSQL
    SKIP_LOCKED never waits on another worker's ANALYZE. A SQLite connection only sees
    statistics that another connection wrote once it reloads them, which this does too.
    """
    stale = stale_statistics(conn)
    analyze(conn, stale)
    if conn.dialect.name == "sqlite" and conn.execute(_SQLITE_STATS).first():
        fingerprint = conn.execute(_SQLITE_FINGERPRINT).scalar()
        info = conn.connection.info
        if info.get("sqlite_statistics") != fingerprint:
            if not stale:  # written by another connection: load them into this one
                conn.exec_driver_sql("ANALYZE sqlite_schema")
            info["sqlite_statistics"] = fingerprint
    return stale


def stale_statistics(conn: Connection) -> list[str]:
    """The tables whose statistics are missing or describe under half their rows
    (cheap: catalog page counts on PostgreSQL, the rowid high-water mark on SQLite)."""
    names = [t.name for t in _ANALYZED_TABLES]
    if conn.dialect.name == "postgresql":
        return list(conn.execute(_STALE_STATS, {"names": names}).scalars())
    if conn.dialect.name != "sqlite":
        return []
    recorded: dict[str, int] = {}
    if conn.execute(_SQLITE_STATS).first():
        recorded = {name: int(n or 0) for name, n in conn.execute(_SQLITE_RECORDED).tuples()}
    return [
        name
        for name in names
        if (conn.execute(text(f'SELECT max(rowid) FROM "{name}"')).scalar() or 0)
        > 2 * recorded.get(name, 0) + 100
    ]


def analyze(conn: Connection, names: Sequence[str]) -> None:
    """ANALYZE these tables (on SQLite it needs the writer's lock)."""
    if conn.dialect.name == "postgresql":
        for name in names:
            with conn.begin_nested():
                conn.execute(text(f'ANALYZE (SKIP_LOCKED) "{name}"'))
    elif conn.dialect.name == "sqlite":
        # Never sampled (`PRAGMA analysis_limit`): a sample of N index entries all of one
        # tenant records "N rows per tenant", so a tenant's 500,000 memberships look like
        # 2,000 and a group sync reads them all per chunk of groups instead of its groups'
        # own (the 100,000-user import's group sync took 40x the 10,000-user one's). A
        # full ANALYZE reads each index once (0.1 s per 500,000 rows) and runs only when
        # a table has doubled, so its cost per row stays constant.
        for name in names:
            conn.exec_driver_sql(f'ANALYZE "{name}"')
