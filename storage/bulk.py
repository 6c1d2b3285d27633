"""Many rows in one INSERT whose statement text does not grow with the rows.

On PostgreSQL the rows travel as one JSON document, `INSERT ... SELECT ... FROM
json_to_recordset(:rows) AS r(column type, ...)`: the same short text for any number of
rows, so psycopg converts it once and the server plans it once, and the rows are encoded
by the json module's C code. Measured on a 100,000-user import (py-spy, 2026-12-05):
SQLAlchemy's multi-row VALUES (`insertmanyvalues`) sends a new text per batch, past
psycopg's 4,096-character query cache, and converting those texts was a third of the
time; one array per column (`unnest`) fixed that, but psycopg escapes text arrays
element by element in Python, a quarter of the time. SQLite keeps executemany, which
its driver runs as one prepared statement.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Connection,
    String,
    Table,
    Text,
    bindparam,
    cast,
    column,
    func,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.types import TypeEngine

from storage.sql import chunked

# Rows per statement on PostgreSQL: a few MB of parameters, one round trip.
PG_ROWS_PER_STATEMENT = 5000


def insert_rows(
    conn: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    skip_conflicts: bool = False,
    update_on_conflict: tuple[str, ...] = (),
    returning: str | None = None,
) -> list[Any]:
    """INSERT `rows` (dicts with the keys of the first one; a column left out takes its
    Python-side default). `skip_conflicts`: a row clashing with a unique index is left out;
    `update_on_conflict`: those columns of the existing row (primary key clash) take the
    new values. Returns the `returning` column of each row really inserted, in the order
    the rows were given (PostgreSQL inserts the recordset's rows in document order; SQLite
    sorts by parameter unless rows may be skipped). Never commits."""
    if not rows:
        return []
    names = _column_names(table, rows[0])
    conflict = ("update", update_on_conflict) if update_on_conflict else ("skip", skip_conflicts)
    if conn.dialect.name != "postgresql":
        # executemany fills the left-out columns' defaults itself.
        result = conn.execute(_values_statement(table, conflict, returning), list(rows))
        return list(result.scalars()) if returning else []
    statement = _recordset_statement(table, names, conflict, returning)
    defaulted = names[len(rows[0]) :]
    inserted: list[Any] = []
    for chunk in chunked(rows, PG_ROWS_PER_STATEMENT):
        # the rows as they are, keyed by column name; copied only to add defaults
        document = [{**_defaults(table, defaulted), **row} for row in chunk] if defaulted else chunk
        result = conn.execute(statement, {"rows": json.dumps(document, default=_as_json)})
        if returning:
            inserted.extend(result.scalars())
    return inserted


def _as_json(value: Any) -> Any:
    if isinstance(value, datetime):
        # with its offset (in UTC, as storage/sql.py UtcDateTime binds it); a naive time is
        # read in the session's time zone, as a bound naive datetime is
        return (value.astimezone(UTC) if value.tzinfo else value).isoformat()
    raise TypeError(f"{type(value).__name__} is not a column value")


def _column_names(table: Table, first: dict[str, Any]) -> tuple[str, ...]:
    defaulted = [c.name for c in table.columns if c.name not in first and _python_default(c)]
    return (*first, *defaulted)


def _python_default(column: Column[Any]) -> bool:
    """A default SQLAlchemy computes in Python (`default=False`, `default=dict`): executemany
    fills it in, so the arrays must too."""
    default = column.default
    return default is not None and bool(
        getattr(default, "is_scalar", False) or getattr(default, "is_callable", False)
    )


def _defaults(table: Table, names: Sequence[str]) -> dict[str, Any]:
    """Fresh values of these columns' defaults (a callable one is called for each row)."""
    values = {}
    for name in names:
        default: Any = table.c[name].default
        values[name] = default.arg(None) if default.is_callable else default.arg
    return values


def _record_type(column: Column[Any]) -> TypeEngine[Any]:
    # TEXT, never VARCHAR(n): a cast to VARCHAR(n) would cut a value too long silently,
    # where the INSERT's assignment to the column refuses it.
    if isinstance(column.type, JSON):
        return JSON()
    if type(column.type) in (String, Text):
        return Text()
    return column.type


@lru_cache(maxsize=64)
def _recordset_statement(
    table: Table,
    names: tuple[str, ...],
    conflict: tuple[str, Any],
    returning: str | None,
) -> Any:
    fields = [column(name, _record_type(table.c[name])) for name in names]
    document = cast(bindparam("rows", type_=Text), JSON)
    rows = func.json_to_recordset(document).table_valued(*fields).render_derived(with_types=True)
    values = select(*(rows.c[field.name] for field in fields))
    statement = postgresql.insert(table).from_select(list(names), values)
    return _finish(statement, table, conflict, returning, sort=False)


@lru_cache(maxsize=64)
def _values_statement(table: Table, conflict: tuple[str, Any], returning: str | None) -> Any:
    # A skipped row returns nothing, so nothing to sort by: only then left unsorted.
    sort = conflict != ("skip", True)
    return _finish(sqlite.insert(table), table, conflict, returning, sort=sort)


def _finish(
    statement: Any, table: Table, conflict: tuple[str, Any], returning: str | None, *, sort: bool
) -> Any:
    how, what = conflict
    if how == "update":
        key = list(table.primary_key.columns)
        statement = statement.on_conflict_do_update(
            index_elements=key, set_={name: statement.excluded[name] for name in what}
        )
    elif what:
        statement = statement.on_conflict_do_nothing()
    if returning is not None:
        statement = statement.returning(table.c[returning], sort_by_parameter_order=sort)
    return statement
