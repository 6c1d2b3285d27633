"""Bulk INSERT (storage/bulk.py) on the real database: what a multi-row VALUES gave, the
recordset form on PostgreSQL gives too — order, skipped clashes, upserts, defaults, refusals
of values too long, and hostile strings kept byte for byte."""

from __future__ import annotations

from contextlib import nullcontext
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.exc import DataError, IntegrityError, StatementError

from storage import bulk
from storage.bulk import insert_rows
from storage.db import unit_of_work
from storage.outbox import append_many
from storage.schema import applied_versions, change_events, tenants

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
HOSTILE = [
    "x" * 20_000,
    "'; DROP TABLE tenants; --",
    '{"a": [1, "\\u0000"]}',
    "\u202eevil\u200b\ufeff 🧑\u200d🚀 ∅ \\ % _ $1 :p0",
    "line\nbreak\ttab\r",
]


def _tenant(i: int, **extra: object) -> dict[str, object]:
    return {"id": f"t{i:05d}", "name": f"Tenant {i}", "created_at": NOW, **extra}


def test_rows_come_back_in_the_order_given_across_statements(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "PG_ROWS_PER_STATEMENT", 7)  # several statements on PostgreSQL
    changes = [(f"u{n:03d}", n + 1, {"n": n, "s": HOSTILE[n % len(HOSTILE)]}) for n in range(30)]
    with unit_of_work(engine) as conn:
        ids = append_many(
            conn,
            tenant_id="t1",
            resource_type="User",
            operation="create",
            changes=changes,
            now=NOW,
        )
    assert len(ids) == 30 and ids == sorted(ids)
    with engine.connect() as conn:
        rows = conn.execute(
            select(change_events.c.id, change_events.c.resource_id, change_events.c.payload)
            .add_columns(change_events.c.state, change_events.c.attempts, change_events.c.source)
            .order_by(change_events.c.id)
        ).all()
    assert [(r.id, r.resource_id) for r in rows] == [
        (i, c[0]) for i, c in zip(ids, changes, strict=True)
    ]
    assert [r.payload for r in rows] == [c[2] for c in changes]
    # Columns left out take their Python defaults (an enum stored as its value).
    assert {(r.state, r.attempts, r.source) for r in rows} == {("pending", 0, "scim")}


def test_clashing_rows_are_skipped_and_only_the_inserted_are_returned(engine: Engine) -> None:
    with unit_of_work(engine) as conn:
        first = [_tenant(1), _tenant(2)]
        assert insert_rows(conn, tenants, first, skip_conflicts=True, returning="id") == [
            "t00001",
            "t00002",
        ]
        again = [_tenant(2, name="again"), _tenant(3), _tenant(1), _tenant(4)]
        added = insert_rows(conn, tenants, again, skip_conflicts=True, returning="id")
    assert sorted(added) == ["t00003", "t00004"]
    with engine.connect() as conn:
        names = conn.execute(select(tenants.c.name).order_by(tenants.c.id)).scalars().all()
    assert names == ["Tenant 1", "Tenant 2", "Tenant 3", "Tenant 4"]


def test_update_on_conflict_takes_the_new_values(engine: Engine) -> None:
    def applied(rid: str, version: int, at: datetime) -> dict[str, object]:
        return {
            "tenant_id": "t1",
            "resource_type": "User",
            "resource_id": rid,
            "version": version,
            "applied_at": at,
        }

    later = NOW + timedelta(hours=1)
    with unit_of_work(engine) as conn:
        insert_rows(conn, applied_versions, [applied("a", 1, NOW), applied("b", 1, NOW)])
        insert_rows(
            conn,
            applied_versions,
            [applied("b", 5, later), applied("c", 2, later)],
            update_on_conflict=("version", "applied_at"),
        )
    with engine.connect() as conn:
        rows = conn.execute(
            select(applied_versions.c.resource_id, applied_versions.c.version)
            .add_columns(applied_versions.c.applied_at)
            .order_by(applied_versions.c.resource_id)
        ).all()
    assert [(r.resource_id, r.version, r.applied_at) for r in rows] == [
        ("a", 1, NOW),
        ("b", 5, later),
        ("c", 2, later),
    ]


def test_hostile_strings_and_json_round_trip_unchanged(engine: Engine) -> None:
    rows = [
        _tenant(i, name=value[:200], sso_domains=[value], options={"k": value})
        for i, value in enumerate(HOSTILE)
    ]
    with unit_of_work(engine) as conn:
        insert_rows(conn, tenants, rows)
    with engine.connect() as conn:
        stored = conn.execute(select(tenants).order_by(tenants.c.id)).all()
    assert [(t.name, t.sso_domains, t.options) for t in stored] == [
        (v[:200], [v], {"k": v}) for v in HOSTILE
    ]
    assert {(t.idp, t.sso_configured, t.scim_enabled) for t in stored} == {
        ("generic", False, False)
    }


def test_a_value_too_long_for_its_column_is_refused_not_truncated(engine: Engine) -> None:
    """tenants.name is VARCHAR(200): PostgreSQL refuses 201 characters (a cast to
    VARCHAR(200) would have cut them silently); SQLite does not enforce lengths."""
    refused = pytest.raises((DataError, IntegrityError, StatementError))
    with refused if _is_pg(engine) else nullcontext(), unit_of_work(engine) as conn:
        insert_rows(conn, tenants, [_tenant(1), _tenant(2, name="n" * 201)])
    with engine.connect() as conn:
        names = conn.execute(select(tenants.c.name)).scalars().all()
    assert names == ([] if _is_pg(engine) else ["Tenant 1", "n" * 201])


def _is_pg(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"
