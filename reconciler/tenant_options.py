"""The settings a workspace keeps in its `options` (tenants.options, a JSON object), checked
in one place for the CLI's `tenant set-options` and `tenant limits`.

- `rate_limit_per_second` / `rate_limit_burst`: the tenant's own token bucket over the
  service-wide defaults (events/rate_limit.py; 0 or less per second: no limit).
- `ping.unique_attribute` / `ping.remove_action`: the two settings of Ping's SCIM
  connection that change what it sends (events/ingest/dialects/ping.py says how).

A value of None removes the option (back to the default).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from reconciler.errors import InvalidValue


class PingUniqueAttribute(StrEnum):
    USER_NAME = "userName"
    WORK_EMAIL = "workEmail"


class PingRemoveAction(StrEnum):
    DELETE = "delete"
    DISABLE = "disable"


@dataclass(frozen=True)
class OptionSpec:
    key: str  # dotted: "ping.remove_action" is options["ping"]["remove_action"]
    help: str
    choices: tuple[str, ...] = ()
    number: type | None = None  # float or int for numeric options


OPTIONS = (
    OptionSpec("rate_limit_per_second", "SCIM and webhook requests a second", number=float),
    OptionSpec("rate_limit_burst", "requests allowed at once", number=int),
    OptionSpec(
        "ping.unique_attribute",
        "how Ping looks a user up",
        choices=tuple(m.value for m in PingUniqueAttribute),
    ),
    OptionSpec(
        "ping.remove_action",
        "what a user leaving Ping's scope means",
        choices=tuple(m.value for m in PingRemoveAction),
    ),
)
SPECS = {spec.key: spec for spec in OPTIONS}


def _checked(spec: OptionSpec, value: Any) -> Any:
    if spec.choices:
        if value not in spec.choices:
            raise InvalidValue(f"{spec.key} must be one of {', '.join(spec.choices)}: {value!r}")
        return str(value)
    try:
        number = spec.number(value) if spec.number else value
    except (TypeError, ValueError):
        raise InvalidValue(f"{spec.key} must be a number: {value!r}") from None
    if spec.number is float and not math.isfinite(number):
        raise InvalidValue(f"{spec.key} must be a finite number: {value!r}")
    if spec.number is int and number < 1:
        raise InvalidValue(f"{spec.key} must be at least 1: {value!r}")
    return number


def merged(current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """`current` with `changes` (dotted keys; None removes) applied, each value checked."""
    result: dict[str, Any] = {k: dict(v) if isinstance(v, dict) else v for k, v in current.items()}
    for key, value in changes.items():
        spec = SPECS.get(key)
        if spec is None:
            raise InvalidValue(f"unknown option {key!r}; known: {', '.join(SPECS)}")
        head, _, leaf = key.rpartition(".")
        section = result.setdefault(head, {}) if head else result
        if value is None:
            section.pop(leaf, None)
            if head and not section:
                result.pop(head)
        else:
            section[leaf] = _checked(spec, value)
    return result


def flattened(options: Mapping[str, Any]) -> dict[str, Any]:
    """The known options that are set, by dotted key."""
    found = {}
    for key in SPECS:
        head, _, leaf = key.rpartition(".")
        section = options.get(head) if head else options
        if isinstance(section, Mapping) and leaf in section:
            found[key] = section[leaf]
    return found
