"""Microsoft Entra ID (the provisioning service's "scim" job).

Entra has two behaviours, chosen by whoever set up the app: the default one, and the
one switched on by appending `?aadOptscim062020` to the Tenant URL (Microsoft's
SCIM-compliance flag). The flag changes how Entra writes four requests:

- disabling a user: `Replace` `active` with the string "False" (default) vs `replace`
  with a boolean (flag);
- adding a single-valued string: `Add` with `[{"value": "x"}]` vs `add` with `"x"`;
- replacing several attributes: one op per path vs one no-path op whose keys are
  dotted or filtered paths;
- removing a group member: `Remove` `members` with a value list vs
  `remove` `members[value eq "id"]`.

The PATCH engine takes both spellings of three of them. The one left is the default
mode wrapping a single value in a one-item list of `{"value": ...}`: for a
single-valued attribute that can only mean the one value, so it is unwrapped here.
Both modes are served by this one dialect, whatever the URL says, so switching the
flag on an existing app needs no change on our side. The flag itself arrives as a
query parameter, which the list routes ignore like any unknown parameter.

Entra also reads `active` back after a disable and expects it on every user.
"""

from __future__ import annotations

from typing import Any

from events.ingest.dialects.base import Body, Dialect
from events.scim.patch.paths import resolve
from events.scim.patch.schema import GROUP_SCHEMA, USER_SCHEMA, Kind, ResourceSchema
from reconciler.errors import Refusal
from storage.tenants import Tenant

SCHEMAS = {"User": USER_SCHEMA, "Group": GROUP_SCHEMA}


def _wrapped_value(value: Any) -> bool:
    """`[{"value": x}]`, Entra's default-mode spelling of one value."""
    return (
        isinstance(value, list)
        and len(value) == 1
        and isinstance(value[0], dict)
        and [k.lower() for k in value[0] if isinstance(k, str)] == ["value"]
    )


def unwrap_single_value(schema: ResourceSchema, path: str, value: Any) -> Any:
    """The value itself when `path` names one value and `value` is a one-item list of it."""
    if not _wrapped_value(value):
        return value
    try:
        target = resolve(path, schema)
    except Refusal:
        return value  # the PATCH engine reports a bad path with its own error
    attribute, sub = target.attribute, target.sub_attribute
    if attribute is None:
        return value
    if sub is not None:
        one_value = not sub.multi_valued and (
            not attribute.multi_valued or target.value_filter is not None
        )
        definition = sub
    else:
        one_value = not attribute.multi_valued
        definition = attribute
    if not one_value:
        return value
    item = value[0]
    return item if definition.kind is Kind.COMPLEX else next(iter(item.values()))


def _operation(schema: ResourceSchema, operation: Any) -> Any:
    if not isinstance(operation, dict):
        return operation  # malformed: the PATCH engine says so
    fields = {k.lower(): k for k in operation if isinstance(k, str)}
    path_key, value_key = fields.get("path"), fields.get("value")
    if value_key is None:
        return operation
    path, value = operation.get(path_key) if path_key else None, operation[value_key]
    if isinstance(path, str) and path.strip():
        value = unwrap_single_value(schema, path, value)
    elif isinstance(value, dict):
        value = {
            key: unwrap_single_value(schema, key, item) if isinstance(key, str) else item
            for key, item in value.items()
        }
    return {**operation, value_key: value}


class Entra(Dialect):
    idp = "entra"
    render_active = True

    def normalise_patch(self, kind: str, body: Body, tenant: Tenant) -> Body:
        operations_key = next(
            (k for k in body if isinstance(k, str) and k.lower() == "operations"), None
        )
        operations = body.get(operations_key) if operations_key else None
        if not isinstance(operations, list):
            return body
        schema = SCHEMAS[kind]
        return {**body, str(operations_key): [_operation(schema, op) for op in operations]}
