"""Turn the `value` of a PATCH operation into what we store, checking it on the way.

IdP quirks tolerated here (each covered by a test named after the IdP):
- Entra sends booleans as the strings "True"/"False";
- Entra sends the enterprise `manager` as a bare id string instead of `{"value": id}`;
- Entra and others send `null` sub-attributes and `"$ref": null` inside member values;
- some IdPs send a single object where RFC 7644 asks for a one-item list.
"""

from __future__ import annotations

from typing import Any

from events.scim.patch.schema import AttributeDef, Kind
from reconciler.errors import InvalidPath, InvalidValue

_BOOLEAN_STRINGS = {"true": True, "false": False}


def normalise_one(attribute: AttributeDef, value: Any) -> Any:
    """One value: a scalar, or one complex object (an item, for a multi-valued attribute)."""
    if attribute.kind is Kind.BOOLEAN:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _BOOLEAN_STRINGS:
            return _BOOLEAN_STRINGS[value.lower()]
        raise InvalidValue(f"{attribute.name} must be a boolean, not {value!r}")
    if attribute.kind is Kind.COMPLEX:
        return normalise_complex(attribute, value)
    if isinstance(value, str):
        return value
    raise InvalidValue(f"{attribute.name} must be a string, not {type(value).__name__}")


def normalise_complex(attribute: AttributeDef, value: Any) -> dict[str, Any]:
    """One complex value with canonical sub-attribute names.

    Null sub-attributes mean "unassigned" and read-only ones are ignored, as RFC 7643
    §2.2 lets a service provider do (IdPs echo `manager.displayName` back to us).
    """
    if isinstance(value, str) and not attribute.multi_valued and attribute.sub("value"):
        value = {"value": value}
    if not isinstance(value, dict):
        raise InvalidValue(f"{attribute.name} must be an object, not {type(value).__name__}")
    normalised: dict[str, Any] = {}
    for key, sub_value in value.items():
        sub = attribute.sub(key) if isinstance(key, str) else None
        if sub is None:
            raise InvalidPath(f"{key!r} is not a sub-attribute of {attribute.name}")
        if sub_value is not None and not sub.read_only:
            normalised[sub.name] = normalise_one(sub, sub_value)
    return normalised


def normalise(attribute: AttributeDef, value: Any) -> Any:
    """The whole value of an attribute: a list of items when it is multi-valued."""
    if not attribute.multi_valued:
        return normalise_one(attribute, value)
    items = value if isinstance(value, list) else [value]
    normalised = (normalise_one(attribute, item) for item in items if item is not None)
    # An empty object is an unassigned item (RFC 7643 §2.5): nothing to store.
    return [item for item in normalised if item != {}]
