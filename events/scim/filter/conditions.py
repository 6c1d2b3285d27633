"""A SCIM filter text on Users or Groups as a WHERE condition on its mirror table."""

from __future__ import annotations

from typing import Any

from scim2_models import ScimFilter
from scim2_models.exceptions import SCIMException
from scim2_models.path import FilterNode, LogicalExpr, Not, ValuePath

from events.scim.filter.columns import GROUPS, USERS, ResourceSql
from events.scim.filter.compiler import FilterCompiler
from events.scim.filter.values import Condition
from reconciler.errors import InvalidFilter

MAX_FILTER_NODES = 50


def _size(node: FilterNode) -> int:
    if isinstance(node, Not):
        return 1 + _size(node.expr)
    if isinstance(node, LogicalExpr):
        return 1 + sum(_size(term) for term in node.terms)
    if isinstance(node, ValuePath):
        return 1 + _size(node.val_filter)
    return 1


def _compile(spec: ResourceSql, text: str, max_length: int | None, max_nodes: int) -> Condition:
    if max_length is not None and len(text) > max_length:
        raise InvalidFilter(f"the filter is longer than {max_length} characters")
    try:
        scim_filter: ScimFilter[Any] = ScimFilter[spec.model](text)  # type: ignore[name-defined]
        if _size(scim_filter.ast) > max_nodes:
            raise InvalidFilter(f"the filter has more than {max_nodes} expressions")
        return FilterCompiler(spec, scim_filter).visit(scim_filter.ast)
    except (SCIMException, ValueError) as exc:
        detail = getattr(exc, "detail", None) or str(exc)
        raise InvalidFilter(f"invalid filter: {detail}") from exc


def user_filter(
    text: str, *, max_length: int | None = None, max_nodes: int = MAX_FILTER_NODES
) -> Condition:
    """A SCIM filter on Users as a condition on mirror_users (InvalidFilter when bad).

    `select(mirror_users).where(mirror_users.c.tenant_id == t, user_filter(text))`.
    A filter from a request passes `max_length` (settings.max_filter_length); None
    (no length limit) is for filters this service writes itself. The node limit
    holds either way.
    """
    return _compile(USERS, text, max_length, max_nodes)


def group_filter(
    text: str, *, max_length: int | None = None, max_nodes: int = MAX_FILTER_NODES
) -> Condition:
    """A SCIM filter on Groups as a condition on mirror_groups (InvalidFilter when bad);
    `max_length` and `max_nodes` as for `user_filter`."""
    return _compile(GROUPS, text, max_length, max_nodes)
