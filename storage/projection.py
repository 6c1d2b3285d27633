"""Project a SCIM resource (a wire dict) onto the indexed mirror columns.

Pure functions: the ingest validates and normalises the body first (docs/architecture.md
§2), these only decide which column holds what. SCIM attribute names
are case-insensitive (RFC 7643 section 2.1), so `Emails` or `USERNAME` read as
`emails` and `userName`.

Case-insensitive copies (`*_ci`) hold `fold(value)`, the same comparison key
scim2-models' default policy uses, so SQL equality on them agrees with
`ScimFilter.match`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

from reconciler.validation import looks_like_email

# Multi-valued attributes of the core User kept one row per value in
# mirror_user_values, with the sub-attribute stored in its `value` column.
USER_VALUE_ATTRIBUTES: dict[str, str] = {
    "emails": "value",
    "phoneNumbers": "value",
    "ims": "value",
    "photos": "value",
    "addresses": "formatted",
    "entitlements": "value",
    "roles": "value",
    "x509Certificates": "value",
}


def fold(text: str) -> str:
    """The case-insensitive comparison key of a string: NFC, lower-cased, NFC again."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", text).lower())


def attribute(obj: Mapping[str, Any], name: str) -> Any:
    """`obj[name]`, matching the key case-insensitively; None when absent."""
    if name in obj:
        return obj[name]
    wanted = name.lower()
    return next((value for key, value in obj.items() if key.lower() == wanted), None)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _items(resource: Mapping[str, Any], name: str) -> list[tuple[int, Mapping[str, Any]]]:
    """The complex values of a multi-valued attribute, with their position in the list."""
    values = attribute(resource, name)
    if not isinstance(values, list):
        return []
    return [(position, item) for position, item in enumerate(values) if isinstance(item, Mapping)]


def rule_email(resource: Mapping[str, Any]) -> str | None:
    """The user's email (docs/architecture.md rule 2): primary, else first, else userName."""
    emails = [
        (item, value)
        for _, item in _items(resource, "emails")
        if (value := _text(attribute(item, "value")))
    ]
    primary = next((value for item, value in emails if attribute(item, "primary") is True), None)
    if primary:
        return primary
    if emails:
        return emails[0][1]
    user_name = _text(attribute(resource, "userName"))
    if user_name and looks_like_email(user_name):
        return user_name
    return None


def _required_text(resource: Mapping[str, Any], name: str) -> str:
    value = _text(attribute(resource, name))
    if not value:
        # The ingest refuses such a body before projecting it: reaching here is a bug.
        raise ValueError(f"{name} is required and must be a non-empty string")
    return value


def user_columns(resource: Mapping[str, Any]) -> dict[str, Any]:
    """The mirror_users columns derived from a SCIM User (not ids, versions, timestamps)."""
    user_name = _required_text(resource, "userName")
    name = attribute(resource, "name")
    name = name if isinstance(name, Mapping) else {}
    active = attribute(resource, "active")
    if active is None:
        active = True
    elif not isinstance(active, bool):
        raise ValueError(f"active must be a boolean, got {active!r}")
    email = rule_email(resource)
    return {
        "user_name": user_name,
        "user_name_ci": fold(user_name),
        "external_id": _text(attribute(resource, "externalId")),
        "display_name": _text(attribute(resource, "displayName")),
        "given_name": _text(attribute(name, "givenName")),
        "family_name": _text(attribute(name, "familyName")),
        "formatted_name": _text(attribute(name, "formatted")),
        "email_ci": fold(email) if email else None,
        "active": active,
        "has_password": bool(attribute(resource, "password")),
    }


def user_value_rows(
    tenant_id: str, user_id: str, resource: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """One mirror_user_values row per value of each multi-valued core User attribute."""
    rows: list[dict[str, Any]] = []
    for attr, value_name in USER_VALUE_ATTRIBUTES.items():
        for position, item in _items(resource, attr):
            value = _text(attribute(item, value_name))
            rows.append(
                {
                    "tenant_id": tenant_id,
                    "user_id": user_id,
                    "attr": attr,
                    "position": position,
                    "value": value,
                    "value_ci": fold(value) if value is not None else None,
                    "type": _text(attribute(item, "type")),
                    "display": _text(attribute(item, "display")),
                    # RFC 7643 section 2.4: "If not specified, ... assumed to be false".
                    "primary": attribute(item, "primary") is True,
                }
            )
    return rows


def group_columns(resource: Mapping[str, Any]) -> dict[str, Any]:
    """The mirror_groups columns derived from a SCIM Group (not ids, versions, timestamps)."""
    display_name = _required_text(resource, "displayName")
    return {
        "display_name": display_name,
        "display_name_ci": fold(display_name),
        "external_id": _text(attribute(resource, "externalId")),
    }
