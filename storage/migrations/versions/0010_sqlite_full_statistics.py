"""SQLite: planner statistics of every row, replacing those of a sample

Statistics written by `ANALYZE` under `PRAGMA analysis_limit` counted one tenant's rows
as the sample's size (2,001 where there were 500,000), and a group sync planned on them
read the tenant's every membership per chunk of groups. New statistics are full
(storage/workspace/statistics.py), but sampled ones would stay until a table doubled:
this re-analyzes, fully, each table that has statistics. PostgreSQL: nothing to do.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    has_stats = bind.exec_driver_sql(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'"
    ).first()
    if not has_stats:
        return
    bind.exec_driver_sql("PRAGMA analysis_limit = 0")
    analyzed = bind.exec_driver_sql("SELECT DISTINCT tbl FROM sqlite_stat1").scalars().all()
    for table in analyzed:
        bind.exec_driver_sql(f'ANALYZE "{table}"')


def downgrade() -> None:
    """Full statistics serve the earlier revisions as well."""
