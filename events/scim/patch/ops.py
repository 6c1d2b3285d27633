"""The envelope of a PATCH request: the `Operations` list and each operation's members.

A missing or non-string `op`, or an operation that is not an object, is `invalidSyntax`
(the message does not have the PatchOp shape); an unknown `op` string is `invalidValue`
(the member is there, its value is wrong). An empty list is `invalidValue`, more than
`max_operations` is `tooMany`, and `remove` without a path is `noTarget` (§3.5.2.2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from events.scim.patch.schema import OpKind
from reconciler.errors import InvalidPath, InvalidSyntax, InvalidValue, NoTarget, TooMany

DEFAULT_MAX_OPERATIONS = 1000


@dataclass(frozen=True)
class Operation:
    kind: OpKind
    path: str | None
    value: Any


def parse_operation(raw: Any) -> Operation:
    if not isinstance(raw, dict):
        raise InvalidSyntax("each operation must be an object")
    # Member names are matched case-insensitively, like the `op` values Entra capitalises.
    fields = {key.lower(): value for key, value in raw.items() if isinstance(key, str)}
    op, path, value = fields.get("op"), fields.get("path"), fields.get("value")
    if not isinstance(op, str):
        raise InvalidSyntax('each operation needs an "op"')
    try:
        kind = OpKind(op.lower())
    except ValueError:
        raise InvalidValue(f'"op" must be add, remove or replace, not {op!r}') from None
    if path is not None and not isinstance(path, str):
        raise InvalidPath('"path" must be a string')
    path = path if path and path.strip() else None  # an empty path is the resource itself
    if kind is OpKind.REMOVE and path is None:
        raise NoTarget("remove needs a path")
    if kind is not OpKind.REMOVE and "value" not in fields:
        raise InvalidValue(f"{kind} needs a value")
    if path is None and not isinstance(value, dict):
        raise InvalidValue("without a path, the value must be an object of attributes")
    return Operation(kind, path, value)


def check_operation_list(operations: Any, limit: int) -> None:
    if not isinstance(operations, list):
        raise InvalidSyntax("Operations must be a list")
    if not operations:
        raise InvalidValue("Operations must not be empty")
    if len(operations) > limit:
        raise TooMany(f"{len(operations)} operations is more than the {limit} allowed")
