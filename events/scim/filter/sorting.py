"""`sortBy` and `sortOrder` (RFC 7644 section 3.4.2.3) as ORDER BY over the mirror."""

from __future__ import annotations

from typing import Any

from scim2_models import Path, ScimFilter
from scim2_models.exceptions import SCIMException
from scim2_models.path import AttrPath
from sqlalchemy import ColumnElement, UnaryExpression, select

from events.scim.filter.columns import GROUPS, USERS, ResourceSql
from events.scim.filter.compiler import FilterCompiler
from events.scim.filter.sql import codepoint_order
from events.scim.filter.values import comparable, is_text
from reconciler.errors import InvalidFilter, InvalidValue


def _sort_key(spec: ResourceSql, sort_by: str) -> ColumnElement[Any]:
    compiler = FilterCompiler(spec, ScimFilter[spec.model]("id pr"))  # type: ignore[name-defined]
    try:
        attr_path = Path(sort_by).ast
        if not isinstance(attr_path, AttrPath):
            raise InvalidFilter("not an attribute name")
        binding = compiler.resolve(attr_path, comparison=True)  # `emails` sorts by its values
        where = compiler.locate(binding)
    except (SCIMException, InvalidFilter, ValueError) as exc:
        detail = getattr(exc, "detail", None) or str(exc)
        raise InvalidValue(f"cannot sort {spec.model.__name__} by '{sort_by}': {detail}") from exc
    if isinstance(where, tuple):  # multi-valued: the primary value, else the first (RFC 7644)
        rows, stored = where
        if not rows.ordering:
            raise InvalidValue(f"cannot sort {spec.model.__name__} by '{sort_by}'")
        table = spec.table
        first = (
            select(comparable(binding, stored))
            .select_from(rows.source)
            .where(rows.tenant == table.c.tenant_id, rows.owner == table.c.id)
            .order_by(*rows.ordering)
            .limit(1)
        )
        if rows.condition is not None:
            first = first.where(rows.condition)
        key: ColumnElement[Any] = first.correlate(table).scalar_subquery()
    else:
        key = comparable(binding, where)
    return codepoint_order(key) if is_text(binding) else key


def user_sort_key(sort_by: str) -> ColumnElement[Any]:
    """The ORDER BY expression for `sortBy` on Users; InvalidValue for an unknown attribute."""
    return _sort_key(USERS, sort_by)


def group_sort_key(sort_by: str) -> ColumnElement[Any]:
    """The ORDER BY expression for `sortBy` on Groups; InvalidValue for an unknown attribute."""
    return _sort_key(GROUPS, sort_by)


def sort_order(key: ColumnElement[Any], *, descending: bool = False) -> UnaryExpression[Any]:
    """`key` in sortOrder: resources without a value come last when ascending and first
    when descending (RFC 7644 section 3.4.2.3), on both engines."""
    return key.desc().nulls_first() if descending else key.asc().nulls_last()
