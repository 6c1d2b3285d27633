"""Write one resolved PATCH target in a resource dict (RFC 7644 §3.5.2.1-3).

`container` is the dict the attribute lives in: the resource itself, or its extension
object. Values arrive already normalised (events/scim/patch/values.py). Choices where the RFC
leaves room, or where we follow the IdPs instead:
- `add` to a multi-valued attribute appends, merging into an existing item with the same
  `value` and `type` rather than storing a duplicate;
- `add` and `replace` on a single-valued complex attribute merge sub-attributes (§3.5.2.3);
- `replace` on a filtered path with no match ADDS the item the filter describes when the
  filter is made of `eq` terms (Entra replaces `emails[type eq "work"].value` on users who
  have no work email); any other unmatched filter is a `noTarget` refusal;
- `remove` with a filter that matches nothing is a no-op, so a retried request succeeds;
- `remove` with a `value` on a multi-valued attribute removes the items it describes;
- a `primary: true` item clears `primary` on its siblings (RFC 7643 §2.4).
"""

from __future__ import annotations

from typing import Any

from scim2_models.path import CompareOperator

from events.scim.patch.paths import Target
from events.scim.patch.schema import AttributeDef
from events.scim.patch.value_filter import compare, equality_template, matches
from events.scim.patch.values import normalise_one
from reconciler.errors import InvalidValue, NoTarget


def _tidy(container: dict[str, Any], name: str) -> None:
    """Unassigned, null and empty values are the same thing (RFC 7643 §2.5): drop them."""
    value = container.get(name)
    if isinstance(value, list):
        value = container[name] = [item for item in value if item != {}]
    if name in container and (value is None or value == [] or value == {}):
        del container[name]


def _equal(attribute: AttributeDef, sub_name: str, left: Any, right: Any) -> bool:
    sub = attribute.sub(sub_name)
    case_exact = sub.case_exact if sub is not None else True
    return compare(left, CompareOperator.eq, right, case_exact=case_exact)


def _same_item(attribute: AttributeDef, existing: Any, new: dict[str, Any]) -> bool:
    if not isinstance(existing, dict):
        return False
    if "value" in existing and "value" in new:
        same_type = "type" not in new or _equal(
            attribute, "type", existing.get("type"), new["type"]
        )
        return same_type and _equal(attribute, "value", existing["value"], new["value"])
    return bool(existing == new)


def _covers(attribute: AttributeDef, existing: Any, wanted: dict[str, Any]) -> bool:
    """Whether `existing` has every sub-attribute value `wanted` names (removal by value)."""
    return isinstance(existing, dict) and all(
        _equal(attribute, key, existing.get(key), value) for key, value in wanted.items()
    )


def _store_items(
    container: dict[str, Any], attribute: AttributeDef, items: list[Any], written: list[Any]
) -> None:
    primaries = {id(item) for item in written if isinstance(item, dict) and item.get("primary")}
    if len(primaries) > 1:
        raise InvalidValue(f"only one value of {attribute.name} may be primary")
    for item in items:
        if primaries and isinstance(item, dict) and item.get("primary") is True:
            item["primary"] = id(item) in primaries
    container[attribute.name] = items
    _tidy(container, attribute.name)


def _merge_items(
    attribute: AttributeDef, container: dict[str, Any], new_items: list[Any], appending: bool
) -> None:
    items: list[Any] = list(container.get(attribute.name) or []) if appending else []
    written = []
    for new in new_items:
        same = next((item for item in items if _same_item(attribute, item, new)), None)
        if same is None:
            items.append(new)
            written.append(new)
        else:
            same.update(new)
            written.append(same)
    _store_items(container, attribute, items, written)


def _write_selected(container: dict[str, Any], target: Target, value: Any, merge: bool) -> None:
    attribute, sub = target.attribute, target.sub_attribute
    assert attribute is not None and target.value_filter is not None
    items = list(container.get(attribute.name) or [])
    selected = [item for item in items if matches(attribute, target.value_filter, item)]
    for item in selected:
        if sub is not None:
            item[sub.name] = value
        else:
            if not merge:
                item.clear()
            item.update(value)
    if not selected:
        template = equality_template(attribute, target.value_filter)
        if template is None:
            raise NoTarget(f"no value of {attribute.name} matches {target.value_filter}")
        new = {**normalise_one(attribute, template), **({sub.name: value} if sub else value)}
        items.append(new)
        selected = [new]
    _store_items(container, attribute, items, selected)


def write(container: dict[str, Any], target: Target, value: Any, *, appending: bool) -> None:
    """`add` (appending=True) or `replace` with a non-null, normalised value."""
    attribute, sub = target.attribute, target.sub_attribute
    assert attribute is not None
    name = attribute.name
    if target.value_filter is not None:
        _write_selected(container, target, value, merge=appending)
    elif sub is not None and attribute.multi_valued:
        items = list(container.get(name) or [])
        if not items:
            raise NoTarget(f"{target.text!r}: {name} has no values to set {sub.name} on")
        for item in items:
            item[sub.name] = value
        _store_items(container, attribute, items, items)
    elif sub is not None:
        current = container.get(name)
        container[name] = {**(current if isinstance(current, dict) else {}), sub.name: value}
    elif attribute.multi_valued:
        _merge_items(attribute, container, value, appending)
    elif isinstance(value, dict):
        current = container.get(name)
        container[name] = {**(current if isinstance(current, dict) else {}), **value}
        _tidy(container, name)
    else:
        container[name] = value


def _chosen_items(target: Target, values: list[Any] | None, items: list[Any]) -> set[int]:
    attribute, value_filter = target.attribute, target.value_filter
    assert attribute is not None
    if value_filter is not None:
        return {id(item) for item in items if matches(attribute, value_filter, item)}
    return {
        id(item) for item in items if any(_covers(attribute, item, want) for want in values or [])
    }


def remove(container: dict[str, Any], target: Target, values: list[Any] | None) -> None:
    """`remove`, or a write of null. `values`: the items a multi-valued remove names."""
    attribute, sub = target.attribute, target.sub_attribute
    assert attribute is not None
    name = attribute.name
    current = container.get(name)
    if attribute.multi_valued and (target.value_filter is not None or values is not None):
        items = current if isinstance(current, list) else []
        chosen = _chosen_items(target, values, items)
        if sub is None:
            container[name] = [item for item in items if id(item) not in chosen]
        for item in items:
            if sub is not None and id(item) in chosen:
                item.pop(sub.name, None)
    elif sub is not None:
        for item in current if isinstance(current, list) else [current]:
            if isinstance(item, dict):
                item.pop(sub.name, None)
    else:
        container.pop(name, None)
    _tidy(container, name)
