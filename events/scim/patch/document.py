"""SCIM PATCH (RFC 7644 §3.5.2) on stored User and Group dicts: pure functions, no I/O.

`patch_user` returns the patched user; `patch_group` returns the patched group and the
net change to its members as set operations (members live in their own table). Both
leave their input untouched, apply operations in order, and raise a `Refusal`
(reconciler/errors.py) for anything they cannot apply, leaving nothing half-applied.

Where things live: patch_ops (the Operations envelope and its refusals), patch_paths
(path -> target), patch_filter (value filters on stored items), patch_values (value checks
and the IdP quirks we accept), patch_apply (the writes and the RFC choices they make),
patch_members (member set arithmetic), patch_schema (attribute definitions).

Refusals decided here: unknown attributes and unknown extension URNs are `invalidPath`;
read-only attributes (`id`, `meta`, `groups`) are `mutability` unless the value sent equals
the stored one (Okta echoes `id` in no-path replaces); `schemas` is kept in step with the
extensions present, so a `schemas` value naming only known schemas is accepted and ignored;
removing a required attribute (`userName`, a group's `displayName`) is `invalidValue`.
Member filters other than on `value` are `invalidFilter`: the members table holds ids only.
Every refusal's detail starts with `Operations[i]`, the operation that failed.
"""

from __future__ import annotations

import copy
from typing import Any

from events.scim.patch.apply import remove, write
from events.scim.patch.members import GroupPatch, MemberLedger, apply_member_op
from events.scim.patch.ops import (
    DEFAULT_MAX_OPERATIONS,
    Operation,
    check_operation_list,
    parse_operation,
)
from events.scim.patch.paths import Target, resolve
from events.scim.patch.schema import GROUP_SCHEMA, USER_SCHEMA, OpKind, ResourceSchema
from events.scim.patch.values import normalise, normalise_one
from reconciler.errors import InvalidPath, InvalidValue, Mutability, Refusal

__all__ = ["DEFAULT_MAX_OPERATIONS", "GroupPatch", "patch_group", "patch_user"]


class _Patcher:
    def __init__(self, resource: dict[str, Any], schema: ResourceSchema):
        self.original = resource
        self.doc: dict[str, Any] = copy.deepcopy(resource)
        self.schema = schema
        self.members = MemberLedger()
        for name in schema.stored_apart:
            self.doc.pop(name, None)

    def apply(self, operation: Operation) -> None:
        if operation.path is None:
            self._apply_object(operation.kind, operation.value, prefix=None)
        else:
            self._apply_path(operation.kind, operation.path, operation.value)

    def _apply_object(self, kind: OpKind, value: dict[str, Any], prefix: str | None) -> None:
        """Each key is a path of its own (Entra sends "name.givenName", URN-qualified names
        and even filtered paths as keys), applied with the operation's verb."""
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidPath("attribute names must be strings")
            self._apply_path(kind, key if prefix is None else f"{prefix}:{key}", item)

    def _apply_path(self, kind: OpKind, path: str, value: Any) -> None:
        if path.strip().lower() == "schemas":
            self._check_schemas(kind, value)
            return
        target = resolve(path, self.schema)
        attribute = target.attribute
        if attribute is None:
            self._apply_whole_schema(kind, target, value)
        elif attribute.name in self.schema.stored_apart:
            apply_member_op(self.members, kind, target, value)
        elif not self._unchanged_read_only(kind, target, value):
            container = self._container(target)
            if kind is OpKind.REMOVE or value is None:
                wanted = value is not None and attribute.multi_valued
                remove(container, target, normalise(attribute, value) if wanted else None)
            else:
                write(
                    container, target, self._normalised(target, value), appending=kind is OpKind.ADD
                )

    def _unchanged_read_only(self, kind: OpKind, target: Target, value: Any) -> bool:
        attribute, sub = target.attribute, target.sub_attribute
        assert attribute is not None
        if not (attribute.read_only or (sub is not None and sub.read_only)):
            return False
        whole = kind is not OpKind.REMOVE and sub is None and target.value_filter is None
        if whole and value == self._container(target).get(attribute.name):
            return True
        raise Mutability(f"{target.text!r} is read-only")

    def _apply_whole_schema(self, kind: OpKind, target: Target, value: Any) -> None:
        if kind is OpKind.REMOVE or value is None:
            if target.extension is None:
                raise InvalidPath("the resource itself cannot be removed")
            self.doc.pop(target.extension, None)
        elif isinstance(value, dict):
            if target.extension is not None:
                value = self._without_schemas(kind, value)
            self._apply_object(kind, value, prefix=target.schema.urn)
        else:
            raise InvalidValue(f"{target.text!r} takes an object of attributes")

    def _without_schemas(self, kind: OpKind, value: dict[str, Any]) -> dict[str, Any]:
        """An extension's whole value may carry its own `schemas` (clients that serialise
        the extension as a resource do): checked like a `schemas` path, then dropped."""
        rest = {
            k: v for k, v in value.items() if not (isinstance(k, str) and k.lower() == "schemas")
        }
        for key in value.keys() - rest.keys():
            self._check_schemas(kind, value[key])
        return rest

    def _check_schemas(self, kind: OpKind, value: Any) -> None:
        if kind is OpKind.REMOVE:
            raise Mutability("schemas is maintained by the server")
        listed = value if isinstance(value, list) else [value]
        unknown = [
            u for u in listed if not isinstance(u, str) or u.lower() not in self.schema.known_urns
        ]
        if unknown:
            raise InvalidValue(f"unsupported schemas: {unknown!r}")

    def _container(self, target: Target) -> dict[str, Any]:
        if target.extension is None:
            return self.doc
        extension = self.doc.get(target.extension)
        if not isinstance(extension, dict):
            extension = self.doc[target.extension] = {}
        return extension

    @staticmethod
    def _normalised(target: Target, value: Any) -> Any:
        assert target.attribute is not None
        if target.sub_attribute is not None:
            return normalise_one(target.sub_attribute, value)
        if target.value_filter is not None:
            return normalise_one(target.attribute, value)
        return normalise(target.attribute, value)

    def finish(self) -> dict[str, Any]:
        for attribute in self.schema.core.attributes.values():
            removed = attribute.name in self.original and attribute.name not in self.doc
            if attribute.required and removed:
                raise InvalidValue(f"{attribute.name} is required and cannot be removed")
        self._sync_schemas()
        return self.doc

    def _sync_schemas(self) -> None:
        """`schemas` lists the extensions a resource carries (RFC 7643 §3)."""
        for extension in self.schema.extensions.values():
            present = bool(self.doc.get(extension.urn))
            if not present:
                self.doc.pop(extension.urn, None)
            schemas = list(self.doc.get("schemas") or [self.schema.core.urn])
            others = [s for s in schemas if str(s).lower() != extension.urn.lower()]
            listed = len(others) < len(schemas)
            if present != listed:
                self.doc["schemas"] = [*others, extension.urn] if present else others


def _located(exc: Refusal, index: int) -> Refusal:
    return type(exc)(
        f"Operations[{index}]: {exc.detail}", status=exc.status, scim_type=exc.scim_type
    )


def _run(
    resource: dict[str, Any], operations: list[dict[str, Any]], schema: ResourceSchema, limit: int
) -> _Patcher:
    check_operation_list(operations, limit)
    patcher = _Patcher(resource, schema)
    for index, raw in enumerate(operations):
        try:
            patcher.apply(parse_operation(raw))
        except Refusal as exc:
            raise _located(exc, index) from exc
    return patcher


def patch_user(
    resource: dict[str, Any],
    operations: list[dict[str, Any]],
    max_operations: int = DEFAULT_MAX_OPERATIONS,
) -> dict[str, Any]:
    """A new User dict with `operations` applied in order; `resource` is left untouched."""
    return _run(resource, operations, USER_SCHEMA, max_operations).finish()


def patch_group(
    resource: dict[str, Any],
    operations: list[dict[str, Any]],
    max_operations: int = DEFAULT_MAX_OPERATIONS,
) -> GroupPatch:
    """The patched group (without members) and the net change to its member set."""
    patcher = _run(resource, operations, GROUP_SCHEMA, max_operations)
    return patcher.members.result(patcher.finish())
