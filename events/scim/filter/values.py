"""One attribute value against one operand, as a two-valued SQL condition.

The meaning is the one of scim2-models' `_compare`: every condition is true or
false, never NULL (so `not` cannot let a NULL through), and an absent value
equals only `null`. Strings that are not caseExact compare by their folded form
(storage.projection.fold) where a folded copy is stored, else by SQL lower(),
which folds ASCII only on SQLite. Substring operators use instr/strpos and
substr rather than LIKE: no wildcard can sneak in, and SQLite's LIKE would
ignore case on caseExact values.
"""

from __future__ import annotations

import base64
import operator
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, EmailStr
from scim2_models import Group, User
from scim2_models.path import AttributeBinding, CompareOperator, Comparison, coerce_value
from sqlalchemy import ColumnElement, and_, false, func, not_, or_, true

from events.scim.filter.columns import Stored
from events.scim.filter.sql import codepoint_order, position
from reconciler.errors import InvalidFilter

Condition = ColumnElement[bool]


# --- what a resolved attribute is ----------------------------------------------------


def unsupported(binding: AttributeBinding) -> InvalidFilter:
    return InvalidFilter(f"filtering on '{binding.urn}' is not supported by this service")


def names(binding: AttributeBinding) -> tuple[str | None, str]:
    """(extension schema or None, canonical dotted path such as "name.givenName")."""
    schema = str(getattr(binding.model, "__schema__", ""))
    path = binding.urn[len(schema) + 1 :]
    is_core = schema in (User.__schema__, Group.__schema__)
    return (None if is_core else schema), path


def is_text(binding: AttributeBinding) -> bool:
    target = binding.target_type
    return isinstance(target, type) and issubclass(target, str | EmailStr)


def is_complex(binding: AttributeBinding) -> bool:
    head = binding.field_type
    return binding.sub_field_name is None and isinstance(head, type) and issubclass(head, BaseModel)


def comparable(binding: AttributeBinding, stored: Stored) -> ColumnElement[Any]:
    """The expression a folded operand is compared with."""
    if binding.case_exact or not is_text(binding):
        return stored.column
    return stored.folded if stored.folded is not None else func.lower(stored.column)


def operand(binding: AttributeBinding, node: Comparison) -> Any:
    """The filter value as the stored column holds it (folded, UTC, base64)."""
    value = coerce_value(binding, node.value, node.op)
    if isinstance(value, bytes):  # binary attributes are stored as their base64 text
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime):  # stored in UTC; a dateTime without offset is UTC
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return binding.comparable(value)


# --- comparisons on one value -----------------------------------------------------------

_ORDERINGS = {
    CompareOperator.gt: operator.gt,
    CompareOperator.ge: operator.ge,
    CompareOperator.lt: operator.lt,
    CompareOperator.le: operator.le,
}


def is_null(stored: Stored) -> Condition:
    return stored.column.is_(None) if stored.nullable else false()


def has_value(stored: Stored, text: bool) -> Condition:
    """`pr` on one value: present and, for a string, not empty."""
    condition = stored.column.is_not(None) if stored.nullable else true()
    return and_(condition, stored.column != "") if text else condition


def _substring(column: ColumnElement[Any], op: CompareOperator, key: str) -> Condition:
    if op == CompareOperator.co:
        return position(column, key) > 0
    if op == CompareOperator.sw:
        return func.substr(column, 1, len(key)) == key
    length = func.length(column)
    return and_(length >= len(key), func.substr(column, length - len(key) + 1) == key)


def compare(stored: Stored, binding: AttributeBinding, op: CompareOperator, key: Any) -> Condition:
    """One stored value against one operand, never NULL (scim2-models' `_compare`)."""
    if key is None:
        if op == CompareOperator.eq:
            return is_null(stored)
        return not_(is_null(stored)) if op == CompareOperator.ne else false()
    column = comparable(binding, stored)
    if op == CompareOperator.ne:
        return or_(is_null(stored), column != key)
    if op == CompareOperator.eq:
        test = column == key
    elif op in (CompareOperator.co, CompareOperator.sw, CompareOperator.ew):
        if not (is_text(binding) and isinstance(key, str)):
            return false()
        test = _substring(column, op, key)
    else:
        ordered = codepoint_order(column) if isinstance(key, str) else column
        test = _ORDERINGS[op](ordered, key)
    return and_(not_(is_null(stored)), test)
