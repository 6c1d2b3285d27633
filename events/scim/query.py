"""List and search parameters (RFC 7644 §3.4.2) and the ListResponse."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from events.runtime import ApiSettings
from reconciler.errors import InvalidValue

LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
SEARCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
# Past any real result set, and within a 64-bit OFFSET on every database.
MAX_START_INDEX = 2**31


@dataclass(frozen=True)
class Query:
    filter: str | None
    start_index: int
    count: int
    sort_by: str | None
    descending: bool
    attributes: list[str] | None
    excluded: list[str] | None


def _split(value: Any) -> list[str] | None:
    if value is None:
        return None
    items = value if isinstance(value, list) else str(value).split(",")
    cleaned = [str(i).strip() for i in items if str(i).strip()]
    return cleaned or None


def _int(value: Any, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InvalidValue(f"{name} must be an integer") from None


def parse_query(params: dict[str, Any], settings: ApiSettings) -> Query:
    lowered = {k.lower(): v for k, v in params.items()}
    start = _int(lowered.get("startindex"), "startIndex") or 1
    count = _int(lowered.get("count"), "count")
    count = settings.default_page_size if count is None else count
    order = str(lowered.get("sortorder") or "ascending").lower()
    if order not in ("ascending", "descending"):
        raise InvalidValue("sortOrder must be ascending or descending")
    filter_text = lowered.get("filter")
    return Query(
        filter=str(filter_text) if filter_text not in (None, "") else None,
        start_index=min(max(1, start), MAX_START_INDEX),
        count=max(0, min(count, settings.max_results)),
        sort_by=str(lowered["sortby"]) if lowered.get("sortby") else None,
        descending=order == "descending",
        attributes=_split(lowered.get("attributes")),
        excluded=_split(lowered.get("excludedattributes")),
    )


def parse_search_body(body: dict[str, Any], settings: ApiSettings) -> Query:
    schemas = body.get("schemas")
    if isinstance(schemas, list) and schemas and SEARCH_SCHEMA not in schemas:
        raise InvalidValue(f"a search body must have schemas [{SEARCH_SCHEMA}]")
    return parse_query({k: v for k, v in body.items() if k != "schemas"}, settings)


def list_response(total: int, query: Query, resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "schemas": [LIST_SCHEMA],
        "totalResults": total,
        "startIndex": query.start_index,
        "itemsPerPage": len(resources),
        "Resources": resources,
    }
