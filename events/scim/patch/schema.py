"""The attribute definitions a PATCH is checked against (RFC 7643 §2, §4, §7).

They are read once from the scim2-models resource classes, so the names, multiplicity,
`caseExact`, `mutability` and `required` characteristics come from one source of truth
instead of a second hand-written table that could drift from the wire models.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from scim2_models import (
    CaseExact,
    ComplexAttribute,
    EnterpriseUser,
    Group,
    Mutability,
    Required,
    User,
)
from scim2_models.base import BaseModel


class OpKind(StrEnum):
    """The three PATCH operations (RFC 7644 §3.5.2); matched case-insensitively."""

    ADD = "add"
    REMOVE = "remove"
    REPLACE = "replace"


class Kind(StrEnum):
    """What a value must look like. Every SCIM type that is not boolean or complex travels
    as a JSON string (string, reference, dateTime, binary), so we check just these three."""

    STRING = "string"
    BOOLEAN = "boolean"
    COMPLEX = "complex"


@dataclass(frozen=True)
class AttributeDef:
    name: str
    """The canonical camelCase name, the key a value is stored under."""
    kind: Kind
    multi_valued: bool
    case_exact: bool
    mutability: Mutability
    required: bool
    sub_attributes: Mapping[str, AttributeDef] = field(default_factory=dict)
    """Keyed by lower-cased name: attribute names are case-insensitive (RFC 7643 §2.1)."""

    def sub(self, name: str) -> AttributeDef | None:
        return self.sub_attributes.get(name.lower())

    @property
    def read_only(self) -> bool:
        return self.mutability == Mutability.read_only


@dataclass(frozen=True)
class SchemaDef:
    urn: str
    attributes: Mapping[str, AttributeDef]
    """Keyed by lower-cased name."""

    def attribute(self, name: str) -> AttributeDef | None:
        return self.attributes.get(name.lower())


@dataclass(frozen=True)
class ResourceSchema:
    core: SchemaDef
    extensions: Mapping[str, SchemaDef]
    """Keyed by lower-cased URN; an extension's attributes live under `resource[urn]`."""
    stored_apart: frozenset[str] = frozenset()
    """Attributes kept outside the resource dict (group members live in their own table)."""

    def schema_for(self, urn: str | None) -> SchemaDef | None:
        if urn is None or urn.lower() == self.core.urn.lower():
            return self.core
        return self.extensions.get(urn.lower())

    @property
    def known_urns(self) -> frozenset[str]:
        return frozenset({self.core.urn.lower(), *self.extensions})


def _attributes(model: type[BaseModel]) -> Mapping[str, AttributeDef]:
    definitions: dict[str, AttributeDef] = {}
    for field_name, info in model.model_fields.items():
        name = info.serialization_alias or field_name
        root = model.get_field_root_type(field_name)
        complex_type = (
            root if isinstance(root, type) and issubclass(root, ComplexAttribute) else None
        )
        kind = Kind.COMPLEX if complex_type else Kind.BOOLEAN if root is bool else Kind.STRING
        definitions[name.lower()] = AttributeDef(
            name=name,
            kind=kind,
            multi_valued=bool(model.get_field_multiplicity(field_name)),
            case_exact=model.get_field_annotation(field_name, CaseExact) == CaseExact.true,
            mutability=model.get_field_annotation(field_name, Mutability),
            required=model.get_field_annotation(field_name, Required) == Required.true,
            sub_attributes=_attributes(complex_type) if complex_type else {},
        )
    return MappingProxyType(definitions)


def _schema(model: type[BaseModel]) -> SchemaDef:
    urn = str(model.__schema__)  # type: ignore[attr-defined]
    attributes = {k: v for k, v in _attributes(model).items() if k != "schemas"}
    return SchemaDef(urn=urn, attributes=MappingProxyType(attributes))


def _resource_schema(
    core: type[BaseModel],
    extensions: tuple[type[BaseModel], ...] = (),
    stored_apart: frozenset[str] = frozenset(),
) -> ResourceSchema:
    extension_defs = {_schema(model).urn.lower(): _schema(model) for model in extensions}
    return ResourceSchema(_schema(core), MappingProxyType(extension_defs), stored_apart)


USER_SCHEMA = _resource_schema(User, extensions=(EnterpriseUser,))
GROUP_SCHEMA = _resource_schema(Group, stored_apart=frozenset({"members"}))
