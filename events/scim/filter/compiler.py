"""The filter compiler: a parsed SCIM filter walked into one SQL condition.

scim2-models parses the filter and resolves each attribute path against the
resource's schema (operators a type forbids, values of the wrong type); the
compiler finds where the attribute is stored (`columns`), and a multi-valued
attribute becomes "some row of it matches", `ne` on one "no value equals",
scim2-models' reading.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.alias_generators import to_camel
from scim2_models import ScimFilter
from scim2_models.path import (
    AttributeBinding,
    AttrPath,
    CompareOperator,
    Comparison,
    FilterVisitor,
    LogicalExpr,
    LogicalOperator,
    Not,
    Present,
    ValuePath,
)
from sqlalchemy import and_, exists, false, literal, not_, or_, select, true

from events.scim.filter.columns import ResourceSql, Rows, Stored
from events.scim.filter.sql import either
from events.scim.filter.values import (
    Condition,
    compare,
    has_value,
    is_complex,
    is_null,
    is_text,
    names,
    operand,
    unsupported,
)
from reconciler.errors import InvalidFilter


class _Logic(FilterVisitor[Condition]):
    def visit_not(self, node: Not) -> Condition:
        return not_(self.visit(node.expr))

    def visit_logical_expr(self, node: LogicalExpr) -> Condition:
        terms = [self.visit(term) for term in node.terms]
        return and_(*terms) if node.op == LogicalOperator.and_ else or_(*terms)


class FilterCompiler(_Logic):
    """Walks a parsed filter, resolving attributes against the resource's schema."""

    def __init__(self, spec: ResourceSql, scim_filter: ScimFilter[Any]):
        self.spec = spec
        self.filter = scim_filter

    def resolve(self, attr_path: AttrPath, *, comparison: bool = False) -> AttributeBinding:
        resolve = self.filter.resolve_comparison if comparison else self.filter.resolve
        binding = resolve(attr_path, strict=True)
        assert binding is not None  # strict resolution raises instead
        return binding

    def any_row(self, rows: Rows, condition: Condition) -> Condition:
        table = self.spec.table
        where = and_(rows.tenant == table.c.tenant_id, condition)
        if rows.condition is not None:
            where = and_(where, rows.condition)
        in_list = select(rows.owner).select_from(rows.source).where(where).correlate(table)
        owned = select(literal(1)).select_from(rows.source).where(where, rows.owner == table.c.id)
        return either(table.c.id.in_(in_list), exists(owned.correlate(table)))

    def locate(self, binding: AttributeBinding) -> Stored | tuple[Rows, Stored]:
        extension, path = names(binding)
        head, _, sub = path.partition(".")
        if extension is None and head in self.spec.collections:
            stored = self.spec.collections[head].subs.get(sub)
            if stored is None:
                raise unsupported(binding)
            return self.spec.collections[head], stored
        if extension is None and path in self.spec.columns:
            return self.spec.columns[path]
        if binding.is_multivalued or not is_text(binding) or head in ("meta", "password"):
            raise unsupported(binding)
        keys = (extension, *path.split(".")) if extension else tuple(path.split("."))
        resource = self.spec.table.c.resource
        return Stored(resource[keys if len(keys) > 1 else keys[0]].as_string())

    def visit_comparison(self, node: Comparison) -> Condition:
        binding = self.resolve(node.attr_path, comparison=True)
        key = operand(binding, node)
        where = self.locate(binding)
        if isinstance(where, Stored):
            return compare(where, binding, node.op, key)
        rows, stored = where
        if key is None and node.op == CompareOperator.eq:  # absent, or a value is null
            return or_(not_(self.any_row(rows, true())), self.any_row(rows, is_null(stored)))
        if key is None and node.op == CompareOperator.ne:
            return and_(self.any_row(rows, true()), not_(self.any_row(rows, is_null(stored))))
        if node.op == CompareOperator.ne:  # "no value equals", scim2-models' reading
            return not_(self.any_row(rows, compare(stored, binding, CompareOperator.eq, key)))
        return self.any_row(rows, compare(stored, binding, node.op, key))

    def visit_present(self, node: Present) -> Condition:
        return self.present(self.resolve(node.attr_path))

    def present(self, binding: AttributeBinding) -> Condition:
        extension, path = names(binding)
        if extension is None and path in self.spec.presence_only:
            return self.spec.presence_only[path]
        if extension is None and path in self.spec.collections:
            return self.any_row(self.spec.collections[path], true())  # a value, even {}
        if is_complex(binding) and not binding.is_multivalued:
            # A singular complex attribute (name, meta, manager): any sub-attribute present.
            return or_(*self._present_parts(binding))
        where = self.locate(binding)
        if isinstance(where, Stored):
            return has_value(where, is_text(binding))
        rows, stored = where
        return self.any_row(rows, has_value(stored, is_text(binding)))

    def _present_parts(self, binding: AttributeBinding) -> list[Condition]:
        complex_type = binding.field_type
        assert isinstance(complex_type, type) and issubclass(complex_type, BaseModel)
        extension, path = names(binding)
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
        extension, path = names(binding)
        rows = self.spec.collections.get(path) if extension is None else None
        if rows is None:
            raise unsupported(binding)
        inner = _ValueCompiler(self, node.attr_path, rows).visit(node.val_filter)
        return self.any_row(rows, inner)


class _ValueCompiler(_Logic):
    """The filter inside `emails[...]`: conditions on one row of the attribute's values."""

    def __init__(self, outer: FilterCompiler, attr_path: AttrPath, rows: Rows):
        self.outer, self.attr_path, self.rows = outer, attr_path, rows

    def _sub(self, inner: AttrPath, comparison: bool) -> tuple[AttributeBinding, Stored]:
        if inner.uri or inner.sub_attr:
            raise InvalidFilter(f"'{inner}' is not a sub-attribute of '{self.attr_path}'")
        path = AttrPath(self.attr_path.attr, inner.attr, self.attr_path.uri)
        binding = self.outer.resolve(path, comparison=comparison)
        stored = self.rows.subs.get(names(binding)[1].partition(".")[2])
        if stored is None:
            raise unsupported(binding)
        return binding, stored

    def visit_comparison(self, node: Comparison) -> Condition:
        binding, stored = self._sub(node.attr_path, comparison=True)
        return compare(stored, binding, node.op, operand(binding, node))

    def visit_present(self, node: Present) -> Condition:
        binding, stored = self._sub(node.attr_path, comparison=False)
        return has_value(stored, is_text(binding))

    def visit_value_path(self, node: ValuePath) -> Condition:
        raise InvalidFilter("a value filter cannot contain another one")
