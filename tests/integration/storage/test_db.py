"""The unit of work's after-commit hook, on the real database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, Engine, func, select

from storage.clock import utcnow
from storage.db import after_commit, make_engine, unit_of_work
from storage.schema import tenants

ROW = {"id": "t-hook", "name": "Hook", "idp": "generic", "options": {}}


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(tenants)).scalar_one())


@pytest.fixture
def one_connection(database_url: str, engine: Engine) -> Iterator[Engine]:
    """An engine whose pool holds one connection: every unit of work reuses it."""
    single = make_engine(database_url, pool_size=1, max_overflow=0)
    yield single
    single.dispose()


def _insert(conn: Connection) -> None:
    conn.execute(tenants.insert().values(**ROW, created_at=utcnow()))


def test_callbacks_run_in_order_once_the_commit_is_visible(engine: Engine) -> None:
    seen: list[tuple[str, int]] = []
    with unit_of_work(engine) as conn:
        _insert(conn)
        after_commit(conn, lambda: seen.append(("first", _count(engine))))
        after_commit(conn, lambda: seen.append(("second", _count(engine))))
        assert seen == []  # nothing runs before the commit
    assert seen == [("first", 1), ("second", 1)]  # another connection sees the row


def test_a_rolled_back_unit_of_work_runs_no_callback(engine: Engine) -> None:
    seen: list[str] = []
    with pytest.raises(RuntimeError, match="boom"), unit_of_work(engine) as conn:
        _insert(conn)
        after_commit(conn, lambda: seen.append("ran"))
        raise RuntimeError("boom")
    assert seen == [] and _count(engine) == 0


def test_a_pooled_connection_forgets_the_callbacks_of_its_last_checkout(
    one_connection: Engine,
) -> None:
    """`Connection.info` belongs to the pooled connection and outlives the checkout: once a
    unit of work ends, committed or not, its callbacks are gone from it."""
    seen: list[str] = []
    with pytest.raises(RuntimeError), unit_of_work(one_connection) as conn:
        after_commit(conn, lambda: seen.append("rolled back"))
        raise RuntimeError
    with one_connection.connect() as conn, pytest.raises(RuntimeError):
        after_commit(conn, lambda: seen.append("outside"))  # the same DBAPI connection
    with unit_of_work(one_connection) as conn:
        after_commit(conn, lambda: seen.append("committed"))
    with one_connection.connect() as conn, pytest.raises(RuntimeError):
        after_commit(conn, lambda: seen.append("outside"))
    with unit_of_work(one_connection):
        pass
    assert seen == ["committed"]


def test_after_commit_needs_a_unit_of_work(engine: Engine) -> None:
    with engine.connect() as conn, pytest.raises(RuntimeError, match="unit_of_work"):
        after_commit(conn, lambda: None)
