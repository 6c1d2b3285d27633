"""`attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5) on rendered resources."""

from __future__ import annotations

from typing import Any

ALWAYS_RETURNED = frozenset({"id", "schemas"})


def _split(path: str, urns: list[str]) -> tuple[str | None, str, str | None]:
    """(extension urn or None, attribute, sub-attribute) with canonical-insensitive names."""
    lowered = path.lower()
    for urn in urns:
        if lowered.startswith(urn.lower() + ":"):
            rest = path[len(urn) + 1 :]
            attr, _, sub = rest.partition(".")
            return (None if ":core:" in urn else urn), attr, sub or None
    attr, _, sub = path.partition(".")
    return None, attr, sub or None


def _find_key(container: dict[str, Any], name: str) -> str | None:
    lowered = name.lower()
    return next((k for k in container if k.lower() == lowered), None)


def select_attributes(
    body: dict[str, Any], attributes: list[str] | None, excluded: list[str] | None
) -> dict[str, Any]:
    urns = [s for s in body.get("schemas", []) if isinstance(s, str)]
    if attributes:
        result: dict[str, Any] = {k: v for k, v in body.items() if k in ALWAYS_RETURNED}
        for path in attributes:
            urn, attr, sub = _split(path, urns)
            source = body.get(urn, {}) if urn else body
            key = _find_key(source, attr) if isinstance(source, dict) else None
            if key is None:
                continue
            target = result.setdefault(urn, {}) if urn else result
            value = source[key]
            if sub is None:
                target[key] = value
            elif isinstance(value, dict):
                sub_key = _find_key(value, sub)
                if sub_key is not None:
                    target.setdefault(key, {})[sub_key] = value[sub_key]
            elif isinstance(value, list):
                picked = [
                    {k: v for k, v in item.items() if k.lower() == sub.lower()}
                    for item in value
                    if isinstance(item, dict)
                ]
                target[key] = [p for p in picked if p]
        return result
    if excluded:
        result = dict(body)
        for path in excluded:
            urn, attr, sub = _split(path, urns)
            target = result.get(urn) if urn else result
            if not isinstance(target, dict):
                continue
            if urn:
                target = result[urn] = dict(target)
            key = _find_key(target, attr)
            if key is None or key in ALWAYS_RETURNED:
                continue
            if sub is None:
                del target[key]
            elif isinstance(target[key], dict):
                target[key] = {k: v for k, v in target[key].items() if k.lower() != sub.lower()}
            elif isinstance(target[key], list):
                target[key] = [
                    {k: v for k, v in item.items() if k.lower() != sub.lower()}
                    for item in target[key]
                    if isinstance(item, dict)
                ]
        return result
    return body


def wants_members(attributes: list[str] | None, excluded: list[str] | None) -> bool:
    """Whether a group response needs its member list (a 50,000-row read otherwise saved)."""
    if attributes:
        return any(a.lower().split(":")[-1].split(".")[0] == "members" for a in attributes)
    if excluded:
        return not any(a.lower().split(":")[-1].split(".")[0] == "members" for a in excluded)
    return True
