"""SCIM wire models at the edge: validate what comes in, render what goes out.

Validation uses scim2-models (User with the Enterprise extension, Group); what
we store is its canonical dump, without id, meta and password.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import email_validator
from pydantic import ValidationError
from scim2_models import Context, EnterpriseUser, Group, User

from events.scim.lengths import check_lengths
from reconciler.errors import InvalidValue
from storage.mirror import MirrorResource

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
UserModel = User[EnterpriseUser]

# Directories really do hold addresses under special-use names (".local" in
# Active Directory forests, ".test" in staging IdPs). Syntax is checked; whether
# a domain is publicly routable is not ours to judge.
email_validator.SPECIAL_USE_DOMAIN_NAMES.clear()


@dataclass(frozen=True)
class ParsedUser:
    resource: dict[str, Any]
    password_set: bool


@dataclass(frozen=True)
class ParsedGroup:
    resource: dict[str, Any]
    member_ids: list[str] | None  # None: the request said nothing about members


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error.get("loc", ())) or "body"
        parts.append(f"{where}: {error.get('msg')}")
    return "; ".join(parts)


def _ensure_schemas(body: dict[str, Any], core: str) -> dict[str, Any]:
    schemas = body.get("schemas")
    if schemas is None:
        return {**body, "schemas": [core]}
    if not isinstance(schemas, list) or core not in schemas:
        raise InvalidValue(f"'schemas' must list {core}")
    return body


def _is_urn_key(key: Any) -> bool:
    return isinstance(key, str) and (key.lower().startswith("urn:") or "://" in key)


def _set_aside_extensions(
    body: dict[str, Any], known: tuple[str, ...]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The body with only the schemas we validate, and the other extensions' attributes.

    IdPs put their own URNs on requests (Entra's ADSCIM Group schema, a tenant's custom
    user extension). Refusing them breaks provisioning; validating them is impossible.
    An unknown URN listed in `schemas` alone is dropped; one carrying attributes is kept
    verbatim in the mirror (and returned on GET) without being interpreted.
    """
    known_lower = {k.lower() for k in known}
    extras = {k: v for k, v in body.items() if _is_urn_key(k) and k.lower() not in known_lower}
    schemas = [s for s in body["schemas"] if not isinstance(s, str) or s.lower() in known_lower]
    rest = {k: v for k, v in body.items() if k not in extras}
    for urn, value in extras.items():
        if not isinstance(value, dict):
            raise InvalidValue(f"{urn!r} must be an object of attributes")
    return {**rest, "schemas": schemas}, extras


def _without_schemas_key(extension: Any) -> Any:
    """Some clients send an extension's value with its own `schemas` key: not an attribute."""
    if isinstance(extension, dict):
        return {k: v for k, v in extension.items() if k != "schemas"}
    return extension


def _with_extras(resource: dict[str, Any], extras: dict[str, Any]) -> dict[str, Any]:
    if not extras:
        return resource
    return {**resource, **extras, "schemas": [*resource["schemas"], *extras]}


def _with_manager_ref(extension: Any) -> Any:
    """Issue 6: RFC 7643 §4.3 makes `manager.$ref` REQUIRED, yet Entra and Okta send only
    the manager's id (the PATCH engine turns Entra's bare id into `{"value": id}`). The
    reference follows from the id, so derive it (relative to the user's own location)
    rather than refuse the user."""
    manager = extension.get("manager") if isinstance(extension, dict) else None
    if not isinstance(manager, dict) or manager.get("$ref") or not manager.get("value"):
        return extension
    return {**extension, "manager": {**manager, "$ref": f"../Users/{manager['value']}"}}


def parse_user(body: dict[str, Any]) -> ParsedUser:
    body = _ensure_schemas(body, USER_SCHEMA)
    body, extras = _set_aside_extensions(body, (USER_SCHEMA, ENTERPRISE_SCHEMA))
    extension = body.get(ENTERPRISE_SCHEMA)
    if extension is not None and ENTERPRISE_SCHEMA not in body["schemas"]:
        body = {**body, "schemas": [*body["schemas"], ENTERPRISE_SCHEMA]}
    if extension is not None:
        extension = _without_schemas_key(extension)
        body = {**body, ENTERPRISE_SCHEMA: _with_manager_ref(extension)}
    try:
        model = UserModel.model_validate(body, scim_ctx=Context.RESOURCE_CREATION_REQUEST)
    except ValidationError as exc:
        raise InvalidValue(_describe(exc)) from None
    resource = _with_extras(model.model_dump(scim_ctx=Context.RESOURCE_CREATION_REQUEST), extras)
    password = resource.pop("password", None)
    resource.pop("id", None)
    resource.pop("meta", None)
    _require_text(resource, "userName")
    check_lengths(resource)
    # No email is no refusal: /Schemas says `emails` is optional, and a schema-driven client
    # must not be lied to. Such a user is kept in the mirror and becomes a member once it
    # has an address; until then its apply is held as `no_email` (docs/architecture.md).
    return ParsedUser(resource=resource, password_set=bool(password))


def parse_group(body: dict[str, Any]) -> ParsedGroup:
    body = _ensure_schemas(body, GROUP_SCHEMA)
    body, extras = _set_aside_extensions(body, (GROUP_SCHEMA,))
    members = body.get("members")
    try:
        model = Group.model_validate(
            {k: v for k, v in body.items() if k != "members"},
            scim_ctx=Context.RESOURCE_CREATION_REQUEST,
        )
    except ValidationError as exc:
        raise InvalidValue(_describe(exc)) from None
    resource = _with_extras(model.model_dump(scim_ctx=Context.RESOURCE_CREATION_REQUEST), extras)
    resource.pop("id", None)
    resource.pop("meta", None)
    resource.pop("members", None)
    _require_text(resource, "displayName")
    check_lengths(resource)
    return ParsedGroup(resource=resource, member_ids=_member_ids(members))


def _require_text(resource: dict[str, Any], name: str) -> None:
    """scim2-models lets an empty string through a required attribute; we cannot store it."""
    if not resource.get(name):
        raise InvalidValue(f"'{name}' is required and may not be empty")


def _member_ids(members: Any) -> list[str] | None:
    if members is None:
        return None
    if not isinstance(members, list):
        raise InvalidValue("'members' must be a list")
    ids: list[str] = []
    for item in members:
        value = item.get("value") if isinstance(item, dict) else None
        if not isinstance(value, str) or not value:
            raise InvalidValue("each member needs a 'value' holding a resource id")
        ids.append(value)
    return ids


def etag(version: int) -> str:
    return f'W/"{version}"'


def _meta(kind: str, record: MirrorResource, base_url: str) -> dict[str, Any]:
    return {
        "resourceType": kind,
        "created": record.created_at.isoformat(),
        "lastModified": record.updated_at.isoformat(),
        "location": f"{base_url}/{kind}s/{record.id}",
        "version": etag(record.version),
    }


def render_user(record: MirrorResource, base_url: str) -> dict[str, Any]:
    return {**record.resource, "id": record.id, "meta": _meta("User", record, base_url)}


def render_group(
    record: MirrorResource, base_url: str, members: list[tuple[str, str]] | None
) -> dict[str, Any]:
    body = {**record.resource, "id": record.id, "meta": _meta("Group", record, base_url)}
    if members is not None:
        body["members"] = [
            {"value": m, "type": t, "$ref": f"{base_url}/{t}s/{m}"} for m, t in members
        ]
    return body
