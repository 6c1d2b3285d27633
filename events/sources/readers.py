"""Where a full reconcile reads the IdP's state when it is not the mirror.

- `scim:URL` — a SCIM 2.0 service provider acting as the directory, pulled page by
  page (retried on network errors and 5xx) with an optional bearer token
  (SCIMSYNC_RECONCILE_SOURCE_TOKEN or `scim:URL#token=...`);
- `file:PATH` — a snapshot: NDJSON (one SCIM resource per line, streamed) or JSON
  (a list, a ListResponse, or {"Users": [...], "Groups": [...]}).
Both yield raw SCIM resources, users first, then groups.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from reconciler.errors import InvalidValue

GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PAGE_SIZE = 200


def kind_of(resource: dict[str, Any]) -> str:
    schemas = resource.get("schemas") or []
    if GROUP_SCHEMA in schemas or ("displayName" in resource and "userName" not in resource):
        return "Group"
    return "User"


@dataclass(frozen=True)
class SourceSpec:
    label: str
    kind: str  # mirror | scim | file
    target: str = ""
    token: str | None = None


def parse_source(text: str) -> SourceSpec:
    if text in ("", "mirror"):
        return SourceSpec("mirror", "mirror")
    scheme, _, target = text.partition(":")
    if scheme == "scim" and target:
        url, _, fragment = target.partition("#token=")
        token = fragment or os.environ.get("SCIMSYNC_RECONCILE_SOURCE_TOKEN")
        return SourceSpec(f"scim:{url}", "scim", url.rstrip("/"), token)
    if scheme == "file" and target:
        return SourceSpec(text, "file", target)
    raise InvalidValue("--source must be mirror, scim:URL or file:PATH")


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code >= 500 or exc.response.status_code == 429
    return isinstance(exc, httpx.TransportError)


@retry(
    retry=retry_if_exception(_retryable),
    wait=wait_exponential(multiplier=0.2, max=5),
    stop=stop_after_attempt(5),
    reraise=True,
)
def _page(client: httpx.Client, path: str, start: int) -> dict[str, Any]:
    response = client.get(path, params={"startIndex": start, "count": PAGE_SIZE})
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def iter_scim_endpoint(spec: SourceSpec) -> Iterator[tuple[str, dict[str, Any]]]:
    headers = {"Accept": "application/scim+json"}
    if spec.token:
        headers["Authorization"] = f"Bearer {spec.token}"
    with httpx.Client(base_url=spec.target, headers=headers, timeout=30) as client:
        for kind, path in (("User", "/Users"), ("Group", "/Groups")):
            start = 1
            while True:
                page = _page(client, path, start)
                resources = page.get("Resources") or []
                for resource in resources:
                    yield kind, resource
                start += len(resources)
                if not resources or start > int(page.get("totalResults", 0)):
                    break


def iter_file(spec: SourceSpec) -> Iterator[tuple[str, dict[str, Any]]]:
    path = Path(spec.target)
    if not path.exists():
        raise InvalidValue(f"no snapshot file at {path}")
    if path.suffix in (".ndjson", ".jsonl"):
        users_then_groups: list[dict[str, Any]] = []  # groups wait until every user is known
        with path.open() as lines:
            for line in lines:
                if line.strip():
                    resource = json.loads(line)
                    if kind_of(resource) == "User":
                        yield "User", resource
                    else:
                        users_then_groups.append(resource)
        for group in users_then_groups:
            yield "Group", group
        return
    document = json.loads(path.read_text())
    if isinstance(document, dict) and "Resources" in document:
        document = document["Resources"]
    if isinstance(document, dict):
        items = [*document.get("Users", []), *document.get("Groups", [])]
    else:
        items = list(document)
    items.sort(key=lambda r: kind_of(r) == "Group")
    for resource in items:
        yield kind_of(resource), resource


def iter_source(spec: SourceSpec) -> Iterator[tuple[str, dict[str, Any]]]:
    if spec.kind == "scim":
        return iter_scim_endpoint(spec)
    if spec.kind == "file":
        return iter_file(spec)
    raise InvalidValue("the mirror is read by the reconciler itself")
