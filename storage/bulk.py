"""Many rows in one INSERT whose statement text does not grow with the rows.

On PostgreSQL the rows travel as one array per column, `INSERT ... SELECT ... FROM
unnest(...)`: the same short text for any number of rows, so psycopg converts it once
and the server plans it once. SQLAlchemy's multi-row VALUES (`insertmanyvalues`) sends
a new text per batch, past psycopg's 4,096-character query cache: converting those
texts was a third of a 100,000-user import's time on PostgreSQL (py-spy, 2026-12-05).
SQLite keeps executemany, which its driver runs as one prepared statement.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
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
    the rows were given (PostgreSQL inserts unnest's rows in array order; SQLite sorts by
    parameter unless rows may be skipped). Never commits."""
    if not rows:
        return []
    names = _column_names(table, rows[0])
    conflict = ("update", update_on_conflict) if update_on_conflict else ("skip", skip_conflicts)
    if conn.dialect.name != "postgresql":
        # executemany fills the left-out columns' defaults itself.
        result = conn.execute(_values_statement(table, conflict, returning), list(rows))
        return list(result.scalars()) if returning else []
    statement = _unnest_statement(table, names, conflict, returning)
    dumps = getattr(conn.dialect, "_json_serializer", None) or json.dumps
    as_json = [isinstance(table.c[name].type, JSON) for name in names]
    inserted: list[Any] = []
    for chunk in chunked(rows, PG_ROWS_PER_STATEMENT):
        params = {}
        for i, name in enumerate(names):
            values = [_value(table, name, row) for row in chunk]
            params[f"p{i}"] = [dumps(v) for v in values] if as_json[i] else values
        result = conn.execute(statement, params)
        if returning:
            inserted.extend(result.scalars())
    return inserted


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


def _value(table: Table, name: str, row: dict[str, Any]) -> Any:
    if name in row:
        return row[name]
    default: Any = table.c[name].default
    return default.arg(None) if default.is_callable else default.arg


def _array_item_type(column: Column[Any]) -> TypeEngine[Any]:
    # Text, never VARCHAR(n): an explicit cast to VARCHAR(n) silently truncates, where
    # the INSERT's own assignment to the column refuses a value that is too long. JSON
    # travels as its text (a JSON list would be taken for another array dimension).
    if type(column.type) in (String, Text, JSON):
        return Text()
    return column.type


@lru_cache(maxsize=64)
def _unnest_statement(
    table: Table,
    names: tuple[str, ...],
    conflict: tuple[str, Any],
    returning: str | None,
) -> Any:
    arrays = []
    for i, name in enumerate(names):
        array_type = postgresql.ARRAY(_array_item_type(table.c[name]))
        arrays.append(cast(bindparam(f"p{i}", type_=array_type), array_type))
    aliases = [f"c{i}" for i in range(len(names))]
    rows = func.unnest(*arrays).table_valued(*aliases).render_derived()
    values = [
        cast(rows.c[a], table.c[n].type) if isinstance(table.c[n].type, JSON) else rows.c[a]
        for a, n in zip(aliases, names, strict=True)
    ]
    statement = postgresql.insert(table).from_select(list(names), select(*values))
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
