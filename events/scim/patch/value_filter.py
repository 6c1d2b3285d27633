"""Value filters of PATCH paths (`emails[type eq "work"]`), evaluated on stored dict items.

scim2-models parses the filter; we walk its syntax tree ourselves because the items are
plain dicts, not model instances. Strings compare case-insensitively unless the
sub-attribute is `caseExact` (RFC 7644 §3.4.2.2); values of different types never match.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

from scim2_models.path import (
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
)

from events.scim.patch.schema import AttributeDef, Kind
from reconciler.errors import InvalidFilter

_ORDERING: Mapping[CompareOperator, Callable[[Any, Any], bool]] = {
    CompareOperator.gt: operator.gt,
    CompareOperator.ge: operator.ge,
    CompareOperator.lt: operator.lt,
    CompareOperator.le: operator.le,
}
_STRING_TESTS: Mapping[CompareOperator, Callable[[str, str], bool]] = {
    CompareOperator.co: lambda left, right: right in left,
    CompareOperator.sw: str.startswith,
    CompareOperator.ew: str.endswith,
}


def filter_sub_attribute(attribute: AttributeDef, attr_path: AttrPath) -> AttributeDef:
    """The sub-attribute of `attribute` a filter term compares; refuse anything else."""
    sub = attribute.sub(attr_path.attr)
    if attr_path.uri is not None or attr_path.sub_attr is not None or sub is None:
        raise InvalidFilter(f"{attr_path} is not a sub-attribute of {attribute.name}")
    return sub


class _Validator(FilterVisitor[None]):
    """Checks every name and operator up front, so evaluation cannot fail half-way."""

    def __init__(self, attribute: AttributeDef):
        self.attribute = attribute

    def visit_comparison(self, node: Comparison) -> None:
        sub = filter_sub_attribute(self.attribute, node.attr_path)
        if sub.kind is Kind.BOOLEAN and node.op not in (CompareOperator.eq, CompareOperator.ne):
            raise InvalidFilter(f"{node.op.value} cannot compare the boolean {sub.name}")

    def visit_present(self, node: Present) -> None:
        filter_sub_attribute(self.attribute, node.attr_path)

    def visit_not(self, node: Not) -> None:
        self.visit(node.expr)

    def visit_logical_expr(self, node: LogicalExpr) -> None:
        for term in node.terms:
            self.visit(term)

    def visit_value_path(self, node: ValuePath) -> None:
        raise InvalidFilter("a value filter cannot contain another value filter")


def validate_filter(attribute: AttributeDef, value_filter: FilterNode) -> None:
    _Validator(attribute).visit(value_filter)


def _present(value: Any) -> bool:
    return value is not None and value != "" and value != [] and value != {}


def _comparable(value: Any, case_exact: bool) -> Any:
    return value.casefold() if isinstance(value, str) and not case_exact else value


def compare(actual: Any, op: CompareOperator, expected: Any, *, case_exact: bool) -> bool:
    """RFC 7644 §3.4.2.2 comparison of one stored value with one filter literal."""
    if actual is None or expected is None:
        if op not in (CompareOperator.eq, CompareOperator.ne):
            return False
        return (actual is None and expected is None) == (op is CompareOperator.eq)
    # bool is an int in Python: keep `primary eq 1` from matching `true`.
    if isinstance(actual, bool) != isinstance(expected, bool):
        return op is CompareOperator.ne
    left, right = _comparable(actual, case_exact), _comparable(expected, case_exact)
    if op is CompareOperator.eq:
        return bool(left == right)
    if op is CompareOperator.ne:
        return bool(left != right)
    if op in _STRING_TESTS:
        both_strings = isinstance(left, str) and isinstance(right, str)
        return both_strings and _STRING_TESTS[op](left, right)
    try:
        return _ORDERING[op](left, right)
    except TypeError:
        return False


class _ItemMatcher(FilterVisitor[bool]):
    def __init__(self, attribute: AttributeDef, item: Mapping[str, Any]):
        self.attribute = attribute
        # Stored keys are canonical, but a lower-cased view keeps odd legacy data matchable.
        self.item = {key.lower(): value for key, value in item.items()}

    def visit_comparison(self, node: Comparison) -> bool:
        sub = filter_sub_attribute(self.attribute, node.attr_path)
        actual = self.item.get(sub.name.lower())
        return compare(actual, node.op, node.value, case_exact=sub.case_exact)

    def visit_present(self, node: Present) -> bool:
        sub = filter_sub_attribute(self.attribute, node.attr_path)
        return _present(self.item.get(sub.name.lower()))

    def visit_not(self, node: Not) -> bool:
        return not self.visit(node.expr)

    def visit_logical_expr(self, node: LogicalExpr) -> bool:
        results = (self.visit(term) for term in node.terms)
        return all(results) if node.op is LogicalOperator.and_ else any(results)

    def visit_value_path(self, node: ValuePath) -> bool:
        raise InvalidFilter("a value filter cannot contain another value filter")


def matches(attribute: AttributeDef, value_filter: FilterNode, item: Any) -> bool:
    return isinstance(item, dict) and _ItemMatcher(attribute, item).visit(value_filter)


def equality_template(attribute: AttributeDef, value_filter: FilterNode) -> dict[str, Any] | None:
    """The item a filter made only of `eq` terms joined by `and` describes, else None.

    Used to create the missing item when Entra replaces `emails[type eq "work"].value`
    on a user who has no work email yet.
    """
    if isinstance(value_filter, Comparison) and value_filter.op is CompareOperator.eq:
        if value_filter.value is None:
            return None
        sub = filter_sub_attribute(attribute, value_filter.attr_path)
        return {sub.name: value_filter.value}
    if isinstance(value_filter, LogicalExpr) and value_filter.op is LogicalOperator.and_:
        template: dict[str, Any] = {}
        for term in value_filter.terms:
            part = equality_template(attribute, term)
            if part is None or any(template.get(k, v) != v for k, v in part.items()):
                return None
            template.update(part)
        return template
    return None


def _is_plain_value(attr_path: AttrPath) -> bool:
    plain = attr_path.sub_attr is None and attr_path.uri is None
    return plain and attr_path.attr.lower() == "value"


def member_ids(value_filter: FilterNode) -> frozenset[str]:
    """The ids named by `value eq "a" or value eq "b"`: the only member filters we can
    evaluate, since the members table holds ids and nothing else (no display names)."""
    if (
        isinstance(value_filter, Comparison)
        and value_filter.op is CompareOperator.eq
        and _is_plain_value(value_filter.attr_path)
        and isinstance(value_filter.value, str)
    ):
        return frozenset({value_filter.value})
    if isinstance(value_filter, LogicalExpr) and value_filter.op is LogicalOperator.or_:
        return frozenset().union(*(member_ids(term) for term in value_filter.terms))
    raise InvalidFilter(
        'members can only be selected by id: members[value eq "id" or value eq "id2"]'
    )
