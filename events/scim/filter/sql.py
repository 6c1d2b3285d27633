"""SQL the two dialects spell differently, as SQLAlchemy function elements.

Each compiles to its SQLite form by default and to its PostgreSQL form on
PostgreSQL; the filter compiler and the sort keys use nothing dialect-specific
but these.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import Integer, NullType, String


class either(FunctionElement[bool]):
    """One condition in two spellings: the first for SQLite, the second for PostgreSQL.

    "This resource has a matching row" is fastest as `id IN (correlated select)`
    on SQLite and as a correlated EXISTS on PostgreSQL (which turns it into an
    indexed semi-join); each form is a scan of the tenant on the other engine.
    """

    inherit_cache = True
    # Not Boolean: SQLite would then get `id IN (...) = 1`, which no index serves.
    type = NullType()  # type: ignore[assignment]


class position(FunctionElement[int]):
    """1-based position of a substring, 0 when absent."""

    inherit_cache = True
    type = Integer()


class codepoint_order(FunctionElement[str]):
    """A string ordered by code point, as Python orders it, whatever the collation."""

    inherit_cache = True
    type = String()


def _args(element: FunctionElement[Any], compiler: Any, **kw: Any) -> list[str]:
    return [str(compiler.process(arg, **kw)) for arg in element.clauses]


@compiles(either)
def _either_sqlite(element: either, compiler: Any, **kw: Any) -> str:
    return _args(element, compiler, **kw)[0]


@compiles(either, "postgresql")
def _either_postgresql(element: either, compiler: Any, **kw: Any) -> str:
    return _args(element, compiler, **kw)[1]


@compiles(position)
def _position_sqlite(element: position, compiler: Any, **kw: Any) -> str:
    return "instr({})".format(", ".join(_args(element, compiler, **kw)))


@compiles(position, "postgresql")
def _position_postgresql(element: position, compiler: Any, **kw: Any) -> str:
    return "strpos({})".format(", ".join(_args(element, compiler, **kw)))


@compiles(codepoint_order)
def _codepoint_sqlite(element: codepoint_order, compiler: Any, **kw: Any) -> str:
    return _args(element, compiler, **kw)[0]  # BINARY collation: UTF-8 bytes = code points


@compiles(codepoint_order, "postgresql")
def _codepoint_postgresql(element: codepoint_order, compiler: Any, **kw: Any) -> str:
    return f'({_args(element, compiler, **kw)[0]} COLLATE "C")'
