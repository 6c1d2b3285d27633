"""Small dialect bridges used by the repositories (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Connection, DateTime, Select, Table, any_, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.types import TypeDecorator

from storage.clock import as_utc

T = TypeVar("T")


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that is UTC and says so on every backend.

    PostgreSQL's timestamptz comes back with its offset; SQLite stores text without one
    and hands back a naive datetime, so a SCIM resource read back showed
    `meta.created` without the `+00:00` it had when written. Every stored time is UTC
    (storage/clock.py), so a naive one read back is UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def coerce_compared_value(self, op: Any, value: Any) -> Any:
        # `column - timedelta(...)` binds an interval, not a timestamp: DateTime's own rule.
        if isinstance(value, datetime):
            return self
        return self.impl_instance.coerce_compared_value(op, value)

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if isinstance(value, datetime) and value.tzinfo is not None:
            return value.astimezone(UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return as_utc(value) if value is not None else None


def dialect_insert(conn: Connection, table: Table) -> Any:
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def one_of(conn: Connection, column: Any, values: Iterable[Any]) -> ColumnElement[bool]:
    """`column IN values`. On PostgreSQL as `= ANY(array)`: one parameter, so the SQL text
    is the same for any number of values and neither SQLAlchemy nor psycopg re-renders
    and re-parses a statement of hundreds of placeholders for every batch."""
    values = list(values)
    if conn.dialect.name == "postgresql":
        array = bindparam(None, values, type_=postgresql.ARRAY(column.type))
        return column == any_(array)  # type: ignore[no-any-return]
    return column.in_(values)  # type: ignore[no-any-return]


def one_of_param(dialect: str, column: Any, name: str) -> ColumnElement[bool]:
    """`one_of` for a statement built once and cached: the values come later, as the bound
    parameter `name` (a list); on PostgreSQL one array, elsewhere an expanding IN list."""
    if dialect == "postgresql":
        array = bindparam(name, type_=postgresql.ARRAY(column.type))
        return column == any_(array)  # type: ignore[no-any-return]
    return column.in_(bindparam(name, expanding=True))  # type: ignore[no-any-return]


def for_update(conn: Connection, query: Select[Any], *, skip_locked: bool = False) -> Select[Any]:
    """Row locks where the database has them; SQLite's writer lock already serialises."""
    if conn.dialect.name == "postgresql":
        return query.with_for_update(skip_locked=skip_locked)
    return query


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
