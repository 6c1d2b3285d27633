"""Reading request bodies: JSON only, bounded in size and depth, storable text only."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import Request

from events.runtime import runtime_of
from reconciler.errors import InvalidSyntax, InvalidValue, PayloadTooLarge

# NUL cannot be stored in PostgreSQL text, and a lone surrogate cannot be encoded as
# UTF-8 at all: either would fail deep in the database driver, so refuse them up front.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")  # Python's parser would accept NaN, Infinity


def _check(value: Any, max_depth: int) -> None:
    """Raise unless `value` nests at most `max_depth` levels and all its text is storable."""
    stack = [(value, 1)]
    while stack:
        node, level = stack.pop()
        if level > max_depth:
            raise InvalidSyntax(f"JSON nested deeper than {max_depth} levels")
        if isinstance(node, dict):
            stack.extend((k, level) for k in node)
            stack.extend((v, level + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, level + 1) for v in node)
        elif isinstance(node, str) and _UNSTORABLE.search(node):
            raise InvalidValue("strings may not contain NUL characters or unpaired surrogates")


async def json_object(request: Request) -> dict[str, Any]:
    settings = runtime_of(request).settings
    raw = await request.body()
    if len(raw) > settings.max_body_bytes:
        raise PayloadTooLarge(f"body over {settings.max_body_bytes} bytes")
    try:
        value = json.loads(raw, parse_constant=_not_json) if raw else None
    except RecursionError:  # nested far beyond our limit: the parser gave up first
        raise InvalidSyntax(f"JSON nested deeper than {settings.max_json_depth} levels") from None
    except json.JSONDecodeError as exc:
        raise InvalidSyntax(f"malformed JSON: {exc}") from None
    except (ValueError, UnicodeDecodeError):  # bad UTF-8, a number of 4,300+ digits, NaN
        raise InvalidSyntax("malformed JSON: not UTF-8, or a number JSON cannot hold") from None
    if not isinstance(value, dict):
        raise InvalidSyntax("the body must be a JSON object")
    _check(value, settings.max_json_depth)
    return value
