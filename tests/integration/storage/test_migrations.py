"""The migrations build exactly the schema the code declares, on both backends.

A table or column added to `storage/schema.py` without a migration would work in
tests that build from metadata and fail on every upgraded production database.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, func, select

from storage.db import make_engine
from storage.migrate import alembic_config, upgrade
from storage.schema import metadata, mirror_groups
from tests.conftest import _drop_postgres_database, _fresh_postgres_database


def test_upgraded_database_matches_the_declared_schema(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    assert differences == []


def test_migrations_form_one_chain(database_url: str) -> None:
    script = ScriptDirectory.from_config(alembic_config(database_url))
    assert len(script.get_heads()) == 1


def test_duplicate_mirror_groups_migrate_to_one_per_name(tmp_path: Path) -> None:
    """0006 makes names and externalIds unique; a mirror that a retried create had already
    doubled still upgrades, and a lookup by name or externalId then finds the oldest copy."""
    admin = os.environ.get("SCIMSYNC_DATABASE_URL")
    url = _fresh_postgres_database(admin) if admin else f"sqlite:///{tmp_path / 'old.db'}"
    try:
        upgrade(url, "0005")
        engine = make_engine(url)
        now = datetime(2026, 1, 1, tzinfo=UTC)
        rows = [
            ("g-old", "team", "ext-1", now),
            ("g-new", "team", "ext-1", now + timedelta(seconds=1)),
            ("g-other", "other", None, now),
        ]
        with engine.begin() as conn:
            for row_id, name, external_id, created in rows:
                conn.execute(
                    mirror_groups.insert(),
                    {
                        "tenant_id": "t1",
                        "id": row_id,
                        "display_name": name.title(),
                        "display_name_ci": name,
                        "external_id": external_id,
                        "version": 1,
                        "created_at": created,
                        "updated_at": created,
                        "resource": {"displayName": name.title()},
                    },
                )
        engine.dispose()
        upgrade(url)
        engine = make_engine(url)
        with engine.connect() as conn:
            by_name = conn.execute(
                select(mirror_groups.c.id).where(mirror_groups.c.display_name_ci == "team")
            ).scalars()
            assert list(by_name) == ["g-old"]
            by_external_id = conn.execute(
                select(mirror_groups.c.id).where(mirror_groups.c.external_id == "ext-1")
            ).scalars()
            assert list(by_external_id) == ["g-old"]
            assert conn.execute(select(func.count()).select_from(mirror_groups)).scalar() == 3
        engine.dispose()
    finally:
        if admin:
            _drop_postgres_database(admin, url)


def test_sampled_sqlite_statistics_are_replaced_by_full_ones(tmp_path: Path) -> None:
    """0010: statistics an earlier release took from a sample (one tenant's 5,000 rows
    recorded as 2,001) are taken again from every row, not left until the table doubles."""
    url = f"sqlite:///{tmp_path / 'sampled.db'}"
    upgrade(url, "0009")
    engine = make_engine(url)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(
            mirror_groups.insert(),
            [
                {
                    "tenant_id": "t1",
                    "id": f"g{i}",
                    "display_name": f"Team {i}",
                    "display_name_ci": f"team {i}",
                    "version": 1,
                    "created_at": now,
                    "updated_at": now,
                    "resource": {"displayName": f"Team {i}"},
                }
                for i in range(5_000)
            ],
        )
        conn.exec_driver_sql("PRAGMA analysis_limit = 2000")
        conn.exec_driver_sql("ANALYZE mirror_groups")
    per_tenant = "SELECT stat FROM sqlite_stat1 WHERE idx = 'sqlite_autoindex_mirror_groups_1'"
    with engine.connect() as conn:
        assert conn.exec_driver_sql(per_tenant).scalar_one().split()[1] == "2001"
    engine.dispose()

    upgrade(url)

    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql(per_tenant).scalar_one().split()[:2] == ["5000", "5000"]
    engine.dispose()
