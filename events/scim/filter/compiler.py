"""SCIM filters (RFC 7644 section 3.4.2.2) and sortBy compiled to SQL over the mirror.

scim2-models parses the filter and checks it against the schema (operators a
type forbids, values of the wrong type); this module decides where each
attribute lives and writes the SQL, always with bound parameters:

- indexed columns of mirror_users / mirror_groups (userName through
  user_name_ci, so `userName eq "x"` is one index lookup);
- one row per value in mirror_user_values (emails, phoneNumbers, ...) or
  mirror_group_members (a group's members, a user's groups);
- the `resource` JSON column for the other string attributes (title, the
  Enterprise User extension...), which must hold the canonical attribute names.

The meaning is the one of scim2-models' in-memory `ScimFilter.match`, which
the property test checks: every leaf is two-valued (a NULL never leaks through
`not`), `ne` on a multi-valued attribute means "no value equals", an absent
attribute equals only `null`. Two deliberate differences follow RFC 7643 and
DESIGN.md: an absent `primary` is false (RFC 7643 section 2.4) and an absent
`active` is true (the projection's default).

Strings that are not caseExact compare by their folded form (storage.projection.fold)
where a folded copy is stored, else by SQL lower(), which folds ASCII only on
SQLite. Substring operators use instr/strpos and substr rather than LIKE: no
wildcard can sneak in, and SQLite's LIKE would ignore case on caseExact values.
"""

from __future__ import annotations

import base64
import operator
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, EmailStr
from pydantic.alias_generators import to_camel
from scim2_models import EnterpriseUser, Group, Path, ScimFilter, User
from scim2_models.exceptions import SCIMException
from scim2_models.path import (
    AttributeBinding,
    AttrPath,
    CompareOperator,
    Comparison,
    FilterNode,
    FilterVisitor,
    LogicalExpr,
    LogicalOperator,
    Not,
    Present,
    ValuePath,
    coerce_value,
)
from sqlalchemy import (
    ColumnElement,
    FromClause,
    Table,
    UnaryExpression,
    and_,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import Integer, NullType, String

from reconciler.errors import InvalidFilter, InvalidValue
from storage.projection import USER_VALUE_ATTRIBUTES
from storage.schema import mirror_group_members, mirror_groups, mirror_user_values, mirror_users

MAX_FILTER_NODES = 50
UserResource = User[EnterpriseUser]

Condition = ColumnElement[bool]


# --- SQL the two dialects spell differently ----------------------------------------------


class _either(FunctionElement[bool]):
    """One condition in two spellings: the first for SQLite, the second for PostgreSQL.

    "This resource has a matching row" is fastest as `id IN (correlated select)`
    on SQLite and as a correlated EXISTS on PostgreSQL (which turns it into an
    indexed semi-join); each form is a scan of the tenant on the other engine.
    """

    inherit_cache = True
    # Not Boolean: SQLite would then get `id IN (...) = 1`, which no index serves.
    type = NullType()  # type: ignore[assignment]


class _position(FunctionElement[int]):
    """1-based position of a substring, 0 when absent."""

    inherit_cache = True
    type = Integer()


class _codepoint_order(FunctionElement[str]):
    """A string ordered by code point, as Python orders it, whatever the collation."""

    inherit_cache = True
    type = String()


def _args(element: FunctionElement[Any], compiler: Any, **kw: Any) -> list[str]:
    return [str(compiler.process(arg, **kw)) for arg in element.clauses]


@compiles(_either)
def _either_sqlite(element: _either, compiler: Any, **kw: Any) -> str:
    return _args(element, compiler, **kw)[0]


@compiles(_either, "postgresql")
def _either_postgresql(element: _either, compiler: Any, **kw: Any) -> str:
    return _args(element, compiler, **kw)[1]


@compiles(_position)
def _position_sqlite(element: _position, compiler: Any, **kw: Any) -> str:
    return "instr({})".format(", ".join(_args(element, compiler, **kw)))


@compiles(_position, "postgresql")
def _position_postgresql(element: _position, compiler: Any, **kw: Any) -> str:
    return "strpos({})".format(", ".join(_args(element, compiler, **kw)))


@compiles(_codepoint_order)
def _codepoint_sqlite(element: _codepoint_order, compiler: Any, **kw: Any) -> str:
    return _args(element, compiler, **kw)[0]  # BINARY collation: UTF-8 bytes = code points


@compiles(_codepoint_order, "postgresql")
def _codepoint_postgresql(element: _codepoint_order, compiler: Any, **kw: Any) -> str:
    return f'({_args(element, compiler, **kw)[0]} COLLATE "C")'


# --- where each attribute lives ------------------------------------------------------


@dataclass(frozen=True)
class _Stored:
    """The SQL expression holding one attribute value."""

    column: ColumnElement[Any]
    folded: ColumnElement[Any] | None = None  # a copy holding fold(value), indexed
    nullable: bool = True


@dataclass(frozen=True)
class _Rows:
    """A multi-valued attribute stored as one row per value in a side table."""

    source: FromClause
    tenant: ColumnElement[Any]
    owner: ColumnElement[Any]  # the id of the resource the row belongs to
    subs: Mapping[str, _Stored]  # by canonical sub-attribute name
    condition: ColumnElement[bool] | None = None
    ordering: tuple[ColumnElement[Any], ...] = ()  # "primary, else first" for sortBy


@dataclass(frozen=True)
class _ResourceSql:
    table: Table
    model: type[Any]
    columns: Mapping[str, _Stored]  # by canonical path: "userName", "name.givenName"
    collections: Mapping[str, _Rows]  # by canonical attribute name: "emails"
    presence_only: Mapping[str, ColumnElement[bool]]  # password: only `pr` is answerable


def _user_values(attr: str, value_name: str) -> _Rows:
    v = mirror_user_values.c
    return _Rows(
        source=mirror_user_values,
        tenant=v.tenant_id,
        owner=v.user_id,
        condition=v.attr == attr,
        subs={
            value_name: _Stored(v.value, v.value_ci),
            "type": _Stored(v.type),
            "display": _Stored(v.display),
            "primary": _Stored(v.primary, nullable=False),
        },
        ordering=(v.primary.desc(), v.position),
    )


def _meta(table: Table, resource_type: str) -> dict[str, _Stored]:
    return {
        "meta.created": _Stored(table.c.created_at, nullable=False),
        "meta.lastModified": _Stored(table.c.updated_at, nullable=False),
        "meta.resourceType": _Stored(literal(resource_type), nullable=False),
    }


_u, _g, _m = mirror_users.c, mirror_groups.c, mirror_group_members.c

_USER = _ResourceSql(
    table=mirror_users,
    model=UserResource,
    columns={
        "id": _Stored(_u.id, nullable=False),
        "externalId": _Stored(_u.external_id),
        "userName": _Stored(_u.user_name, _u.user_name_ci, nullable=False),
        "displayName": _Stored(_u.display_name),
        "name.givenName": _Stored(_u.given_name),
        "name.familyName": _Stored(_u.family_name),
        "active": _Stored(_u.active, nullable=False),
        **_meta(mirror_users, "User"),
    },
    collections={
        **{attr: _user_values(attr, value) for attr, value in USER_VALUE_ATTRIBUTES.items()},
        "groups": _Rows(
            source=mirror_group_members.join(
                mirror_groups, and_(_m.tenant_id == _g.tenant_id, _m.group_id == _g.id)
            ),
            tenant=_m.tenant_id,
            owner=_m.member_id,
            subs={
                "value": _Stored(_m.group_id, nullable=False),
                "display": _Stored(_g.display_name, _g.display_name_ci, nullable=False),
            },
        ),
    },
    presence_only={"password": _u.has_password.is_(True)},
)

_GROUP = _ResourceSql(
    table=mirror_groups,
    model=Group,
    columns={
        "id": _Stored(_g.id, nullable=False),
        "externalId": _Stored(_g.external_id),
        "displayName": _Stored(_g.display_name, _g.display_name_ci, nullable=False),
        **_meta(mirror_groups, "Group"),
    },
    collections={
        "members": _Rows(
            source=mirror_group_members,
            tenant=_m.tenant_id,
            owner=_m.group_id,
            subs={
                "value": _Stored(_m.member_id, nullable=False),
                "type": _Stored(_m.member_type, nullable=False),
            },
        ),
    },
    presence_only={},
)


def _unsupported(binding: AttributeBinding) -> InvalidFilter:
    return InvalidFilter(f"filtering on '{binding.urn}' is not supported by this service")


def _names(binding: AttributeBinding) -> tuple[str | None, str]:
    """(extension schema or None, canonical dotted path such as "name.givenName")."""
    schema = str(getattr(binding.model, "__schema__", ""))
    path = binding.urn[len(schema) + 1 :]
    is_core = schema in (User.__schema__, Group.__schema__)
    return (None if is_core else schema), path


def _is_text(binding: AttributeBinding) -> bool:
    target = binding.target_type
    return isinstance(target, type) and issubclass(target, str | EmailStr)


def _is_complex(binding: AttributeBinding) -> bool:
    head = binding.field_type
    return binding.sub_field_name is None and isinstance(head, type) and issubclass(head, BaseModel)


def _comparable(binding: AttributeBinding, stored: _Stored) -> ColumnElement[Any]:
    """The expression a folded operand is compared with."""
    if binding.case_exact or not _is_text(binding):
        return stored.column
    return stored.folded if stored.folded is not None else func.lower(stored.column)


def _operand(binding: AttributeBinding, node: Comparison) -> Any:
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


def _is_null(stored: _Stored) -> Condition:
    return stored.column.is_(None) if stored.nullable else false()


def _has_value(stored: _Stored, text: bool) -> Condition:
    """`pr` on one value: present and, for a string, not empty."""
    condition = stored.column.is_not(None) if stored.nullable else true()
    return and_(condition, stored.column != "") if text else condition


def _substring(column: ColumnElement[Any], op: CompareOperator, key: str) -> Condition:
    if op == CompareOperator.co:
        return _position(column, key) > 0
    if op == CompareOperator.sw:
        return func.substr(column, 1, len(key)) == key
    length = func.length(column)
    return and_(length >= len(key), func.substr(column, length - len(key) + 1) == key)


def _compare(
    stored: _Stored, binding: AttributeBinding, op: CompareOperator, key: Any
) -> Condition:
    """One stored value against one operand, never NULL (scim2-models' `_compare`)."""
    if key is None:
        if op == CompareOperator.eq:
            return _is_null(stored)
        return not_(_is_null(stored)) if op == CompareOperator.ne else false()
    column = _comparable(binding, stored)
    if op == CompareOperator.ne:
        return or_(_is_null(stored), column != key)
    if op == CompareOperator.eq:
        test = column == key
    elif op in (CompareOperator.co, CompareOperator.sw, CompareOperator.ew):
        if not (_is_text(binding) and isinstance(key, str)):
            return false()
        test = _substring(column, op, key)
    else:
        ordered = _codepoint_order(column) if isinstance(key, str) else column
        test = _ORDERINGS[op](ordered, key)
    return and_(not_(_is_null(stored)), test)


# --- the filter compiler ----------------------------------------------------------------


class _Logic(FilterVisitor[Condition]):
    def visit_not(self, node: Not) -> Condition:
        return not_(self.visit(node.expr))

    def visit_logical_expr(self, node: LogicalExpr) -> Condition:
        terms = [self.visit(term) for term in node.terms]
        return and_(*terms) if node.op == LogicalOperator.and_ else or_(*terms)


class _Compiler(_Logic):
    """Walks a parsed filter, resolving attributes against the resource's schema."""

    def __init__(self, spec: _ResourceSql, scim_filter: ScimFilter[Any]):
        self.spec = spec
        self.filter = scim_filter

    def resolve(self, attr_path: AttrPath, *, comparison: bool = False) -> AttributeBinding:
        resolve = self.filter.resolve_comparison if comparison else self.filter.resolve
        binding = resolve(attr_path, strict=True)
        assert binding is not None  # strict resolution raises instead
        return binding

    def any_row(self, rows: _Rows, condition: Condition) -> Condition:
        table = self.spec.table
        where = and_(rows.tenant == table.c.tenant_id, condition)
        if rows.condition is not None:
            where = and_(where, rows.condition)
        in_list = select(rows.owner).select_from(rows.source).where(where).correlate(table)
        owned = select(literal(1)).select_from(rows.source).where(where, rows.owner == table.c.id)
        return _either(table.c.id.in_(in_list), exists(owned.correlate(table)))

    def locate(self, binding: AttributeBinding) -> _Stored | tuple[_Rows, _Stored]:
        extension, path = _names(binding)
        head, _, sub = path.partition(".")
        if extension is None and head in self.spec.collections:
            stored = self.spec.collections[head].subs.get(sub)
            if stored is None:
                raise _unsupported(binding)
            return self.spec.collections[head], stored
        if extension is None and path in self.spec.columns:
            return self.spec.columns[path]
        if binding.is_multivalued or not _is_text(binding) or head in ("meta", "password"):
            raise _unsupported(binding)
        keys = (extension, *path.split(".")) if extension else tuple(path.split("."))
        resource = self.spec.table.c.resource
        return _Stored(resource[keys if len(keys) > 1 else keys[0]].as_string())

    def visit_comparison(self, node: Comparison) -> Condition:
        binding = self.resolve(node.attr_path, comparison=True)
        key = _operand(binding, node)
        where = self.locate(binding)
        if isinstance(where, _Stored):
            return _compare(where, binding, node.op, key)
        rows, stored = where
        if key is None and node.op == CompareOperator.eq:  # absent, or a value is null
            return or_(not_(self.any_row(rows, true())), self.any_row(rows, _is_null(stored)))
        if key is None and node.op == CompareOperator.ne:
            return and_(self.any_row(rows, true()), not_(self.any_row(rows, _is_null(stored))))
        if node.op == CompareOperator.ne:  # "no value equals", scim2-models' reading
            return not_(self.any_row(rows, _compare(stored, binding, CompareOperator.eq, key)))
        return self.any_row(rows, _compare(stored, binding, node.op, key))

    def visit_present(self, node: Present) -> Condition:
        return self.present(self.resolve(node.attr_path))

    def present(self, binding: AttributeBinding) -> Condition:
        extension, path = _names(binding)
        if extension is None and path in self.spec.presence_only:
            return self.spec.presence_only[path]
        if extension is None and path in self.spec.collections:
            return self.any_row(self.spec.collections[path], true())  # a value, even {}
        if _is_complex(binding) and not binding.is_multivalued:
            # A singular complex attribute (name, meta, manager): any sub-attribute present.
            return or_(*self._present_parts(binding))
        where = self.locate(binding)
        if isinstance(where, _Stored):
            return _has_value(where, _is_text(binding))
        rows, stored = where
        return self.any_row(rows, _has_value(stored, _is_text(binding)))

    def _present_parts(self, binding: AttributeBinding) -> list[Condition]:
        complex_type = binding.field_type
        assert isinstance(complex_type, type) and issubclass(complex_type, BaseModel)
        extension, path = _names(binding)
        parts: list[Condition] = [false()]
        for name, info in complex_type.model_fields.items():
            sub = AttrPath(path, info.serialization_alias or to_camel(name), extension)
            try:
                parts.append(self.present(self.resolve(sub)))
            except InvalidFilter:
                continue  # not stored (meta.location): cannot make the node present
        return parts

    def visit_value_path(self, node: ValuePath) -> Condition:
        binding = self.resolve(node.attr_path)
        extension, path = _names(binding)
        rows = self.spec.collections.get(path) if extension is None else None
        if rows is None:
            raise _unsupported(binding)
        return self.any_row(rows, _ValueCompiler(self, node.attr_path, rows).visit(node.val_filter))


class _ValueCompiler(_Logic):
    """The filter inside `emails[...]`: conditions on one row of the attribute's values."""

    def __init__(self, outer: _Compiler, attr_path: AttrPath, rows: _Rows):
        self.outer, self.attr_path, self.rows = outer, attr_path, rows

    def _sub(self, inner: AttrPath, comparison: bool) -> tuple[AttributeBinding, _Stored]:
        if inner.uri or inner.sub_attr:
            raise InvalidFilter(f"'{inner}' is not a sub-attribute of '{self.attr_path}'")
        path = AttrPath(self.attr_path.attr, inner.attr, self.attr_path.uri)
        binding = self.outer.resolve(path, comparison=comparison)
        stored = self.rows.subs.get(_names(binding)[1].partition(".")[2])
        if stored is None:
            raise _unsupported(binding)
        return binding, stored

    def visit_comparison(self, node: Comparison) -> Condition:
        binding, stored = self._sub(node.attr_path, comparison=True)
        return _compare(stored, binding, node.op, _operand(binding, node))

    def visit_present(self, node: Present) -> Condition:
        binding, stored = self._sub(node.attr_path, comparison=False)
        return _has_value(stored, _is_text(binding))

    def visit_value_path(self, node: ValuePath) -> Condition:
        raise InvalidFilter("a value filter cannot contain another one")


# --- public API -------------------------------------------------------------------------


def _size(node: FilterNode) -> int:
    if isinstance(node, Not):
        return 1 + _size(node.expr)
    if isinstance(node, LogicalExpr):
        return 1 + sum(_size(term) for term in node.terms)
    if isinstance(node, ValuePath):
        return 1 + _size(node.val_filter)
    return 1


def _compile(spec: _ResourceSql, text: str, max_length: int | None, max_nodes: int) -> Condition:
    if max_length is None:
        from worker.settings import get_settings

        max_length = get_settings().max_filter_length
    if len(text) > max_length:
        raise InvalidFilter(f"the filter is longer than {max_length} characters")
    try:
        scim_filter: ScimFilter[Any] = ScimFilter[spec.model](text)  # type: ignore[name-defined]
        if _size(scim_filter.ast) > max_nodes:
            raise InvalidFilter(f"the filter has more than {max_nodes} expressions")
        return _Compiler(spec, scim_filter).visit(scim_filter.ast)
    except (SCIMException, ValueError) as exc:
        detail = getattr(exc, "detail", None) or str(exc)
        raise InvalidFilter(f"invalid filter: {detail}") from exc


def user_filter(
    text: str, *, max_length: int | None = None, max_nodes: int = MAX_FILTER_NODES
) -> Condition:
    """A SCIM filter on Users as a condition on mirror_users (InvalidFilter when bad).

    `select(mirror_users).where(mirror_users.c.tenant_id == t, user_filter(text))`;
    `max_length` defaults to settings.max_filter_length.
    """
    return _compile(_USER, text, max_length, max_nodes)


def group_filter(
    text: str, *, max_length: int | None = None, max_nodes: int = MAX_FILTER_NODES
) -> Condition:
    """A SCIM filter on Groups as a condition on mirror_groups (InvalidFilter when bad)."""
    return _compile(_GROUP, text, max_length, max_nodes)


def _sort_key(spec: _ResourceSql, sort_by: str) -> ColumnElement[Any]:
    compiler = _Compiler(spec, ScimFilter[spec.model]("id pr"))  # type: ignore[name-defined]
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
            select(_comparable(binding, stored))
            .select_from(rows.source)
            .where(rows.tenant == table.c.tenant_id, rows.owner == table.c.id)
            .order_by(*rows.ordering)
            .limit(1)
        )
        if rows.condition is not None:
            first = first.where(rows.condition)
        key: ColumnElement[Any] = first.correlate(table).scalar_subquery()
    else:
        key = _comparable(binding, where)
    return _codepoint_order(key) if _is_text(binding) else key


def user_sort_key(sort_by: str) -> ColumnElement[Any]:
    """The ORDER BY expression for `sortBy` on Users; InvalidValue for an unknown attribute."""
    return _sort_key(_USER, sort_by)


def group_sort_key(sort_by: str) -> ColumnElement[Any]:
    """The ORDER BY expression for `sortBy` on Groups; InvalidValue for an unknown attribute."""
    return _sort_key(_GROUP, sort_by)


def sort_order(key: ColumnElement[Any], *, descending: bool = False) -> UnaryExpression[Any]:
    """`key` in sortOrder: resources without a value come last when ascending and first
    when descending (RFC 7644 section 3.4.2.3), on both engines."""
    return key.desc().nulls_first() if descending else key.asc().nulls_last()
