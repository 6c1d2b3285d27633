"""Resolve a PATCH path (RFC 7644 §3.5.2) against a resource's attribute definitions.

scim2-models parses the path grammar (including the errata 7122 spellings
`emails.type eq "work"` and `emails[type eq "work"].value`); this module names what the
path designates in *our* storage: which dict (the resource or an extension object),
which attribute, sub-attribute and value filter. Names are matched case-insensitively.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from scim2_models import SCIMException
from scim2_models.path import FilterNode, Path

from events.scim.patch.schema import AttributeDef, Kind, ResourceSchema, SchemaDef
from events.scim.patch.value_filter import validate_filter
from reconciler.errors import InvalidFilter, InvalidPath, InvalidSyntax, InvalidValue, Refusal

_PARSER_ERRORS: Mapping[str, type[Refusal]] = {
    "invalidFilter": InvalidFilter,
    "invalidSyntax": InvalidSyntax,
    "invalidValue": InvalidValue,
}


@dataclass(frozen=True)
class Target:
    text: str
    schema: SchemaDef
    extension: str | None
    """The canonical extension URN when the attribute lives under `resource[urn]`."""
    attribute: AttributeDef | None
    """None when the path is a bare schema URN: the whole extension (or resource) object."""
    sub_attribute: AttributeDef | None = None
    value_filter: FilterNode | None = None


def _parse(text: str) -> tuple[tuple[str, ...], str | None, FilterNode | None]:
    try:
        path = Path(text)
        return path.parts, path.schema, path.value_filter
    except SCIMException as exc:
        refusal = _PARSER_ERRORS.get(exc.scim_type, InvalidPath)
        raise refusal(f"{text!r} is not a valid path: {exc}") from exc


def resolve(text: str, resource: ResourceSchema) -> Target:
    if not isinstance(text, str):
        raise InvalidPath("path must be a string")
    # A bare URN parses as "attribute User of schema ...:2.0", so recognise it first.
    bare_urn = text.strip()
    whole = resource.schema_for(bare_urn) if bare_urn.lower() in resource.known_urns else None
    if whole is not None:
        extension = None if whole is resource.core else whole.urn
        return Target(text, whole, extension, attribute=None)

    parts, urn, value_filter = _parse(text)
    schema = resource.schema_for(urn)
    if schema is None:
        raise InvalidPath(f"{text!r} names the unknown schema {urn!r}")
    if not parts:
        raise InvalidPath("path is empty")
    attribute = schema.attribute(parts[0])
    if attribute is None:
        raise InvalidPath(f"{text!r}: {parts[0]!r} is not an attribute of {schema.urn}")

    sub_attribute = None
    if len(parts) > 1:
        sub_attribute = attribute.sub(parts[1])
        if sub_attribute is None:
            raise InvalidPath(f"{text!r}: {parts[1]!r} is not a sub-attribute of {attribute.name}")

    if value_filter is not None:
        if not (attribute.multi_valued and attribute.kind is Kind.COMPLEX):
            raise InvalidPath(f"{text!r}: only multi-valued complex attributes take a filter")
        validate_filter(attribute, value_filter)

    extension = None if schema is resource.core else schema.urn
    return Target(text, schema, extension, attribute, sub_attribute, value_filter)
