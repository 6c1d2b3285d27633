"""Reading request bodies: JSON only, bounded in size and depth."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from events.errors import InvalidSyntax, PayloadTooLarge
from worker.settings import get_settings


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(node, dict):
            stack.extend((v, level + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, level + 1) for v in node)
    return deepest


async def json_object(request: Request) -> dict[str, Any]:
    settings = get_settings()
    raw = await request.body()
    if len(raw) > settings.max_body_bytes:
        raise PayloadTooLarge(f"body over {settings.max_body_bytes} bytes")
    try:
        value = json.loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidSyntax(f"malformed JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidSyntax("the body must be a JSON object")
    if _depth(value) > settings.max_json_depth:
        raise InvalidSyntax(f"JSON nested deeper than {settings.max_json_depth} levels")
    return value
