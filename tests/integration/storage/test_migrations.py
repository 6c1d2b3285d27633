"""The migrations build exactly the schema the code declares, on both backends.

A table or column added to `storage/schema.py` without a migration would work in
tests that build from metadata and fail on every upgraded production database.
"""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from storage.migrate import alembic_config
from storage.schema import metadata


def test_upgraded_database_matches_the_declared_schema(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    assert differences == []


def test_migrations_form_one_chain(database_url: str) -> None:
    script = ScriptDirectory.from_config(alembic_config(database_url))
    assert len(script.get_heads()) == 1
