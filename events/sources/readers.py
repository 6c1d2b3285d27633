"""Where a full reconcile reads the IdP's state when it is not the mirror.

- `scim:URL` — a SCIM 2.0 service provider acting as the directory, pulled page by
  page (retried on network errors and 5xx) with an optional bearer token. The token is
  never part of the URL (a URL is logged, stored with the run and visible in `ps`): it is
  given by the settings SCIMSYNC_RECONCILE_SOURCE_TOKEN or
  SCIMSYNC_RECONCILE_SOURCE_TOKEN_FILE; a URL carrying credentials is refused;
- `file:PATH` — a snapshot: NDJSON (one SCIM resource per line, streamed: read twice,
  users on the first pass and groups on the second, so no part of it is held) or JSON
  (a list, a ListResponse, or {"Users": [...], "Groups": [...]}; read whole, for small
  exports).
Both yield raw SCIM resources, users first, then groups. `parse_source` checks a source
before any run is recorded, so a typo is a usage error, not a failed run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from reconciler.errors import InvalidValue

GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PAGE_SIZE = 200
KINDS = ("User", "Group")


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


def parse_source(text: str, token: str | None = None) -> SourceSpec:
    """The source named by `--source` (`mirror`, `scim:URL`, `file:PATH`), checked."""
    if text in ("", "mirror"):
        return SourceSpec("mirror", "mirror")
    scheme, _, target = text.partition(":")
    if scheme == "scim" and target:
        url = httpx.URL(target)
        if url.scheme not in ("http", "https") or not url.host:
            raise InvalidValue(f"scim: needs an http(s) URL, not {target!r}")
        if url.userinfo or url.fragment or "token" in str(url.params).lower():
            raise InvalidValue(
                "put no credentials in the scim: URL; give the token with "
                "SCIMSYNC_RECONCILE_SOURCE_TOKEN or SCIMSYNC_RECONCILE_SOURCE_TOKEN_FILE"
            )
        return SourceSpec(f"scim:{target}", "scim", target.rstrip("/"), token)
    if scheme == "file" and target:
        if not Path(target).is_file():
            raise InvalidValue(f"no snapshot file at {target}")
        return SourceSpec(text, "file", target)
    raise InvalidValue(f"--source must be mirror, scim:URL or file:PATH, not {text!r}")


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


def iter_scim_endpoint(
    spec: SourceSpec, kinds: tuple[str, ...] = KINDS
) -> Iterator[tuple[str, dict[str, Any]]]:
    headers = {"Accept": "application/scim+json"}
    if spec.token:
        headers["Authorization"] = f"Bearer {spec.token}"
    with httpx.Client(base_url=spec.target, headers=headers, timeout=30) as client:
        for kind in kinds:
            path, start = f"/{kind}s", 1
            while True:
                page = _page(client, path, start)
                resources = page.get("Resources") or []
                for resource in resources:
                    yield kind, resource
                start += len(resources)
                if not resources or start > int(page.get("totalResults", 0)):
                    break


def _ndjson(path: Path, skip: str | None = None) -> Iterator[dict[str, Any]]:
    """The resources of an NDJSON file; lines holding `skip` are passed over unparsed (a
    pass over the users need not decode 2,000 groups of members)."""
    with path.open() as lines:
        for line in lines:
            if line.strip() and (skip is None or skip not in line):
                yield json.loads(line)


def iter_file(
    spec: SourceSpec, kinds: tuple[str, ...] = KINDS
) -> Iterator[tuple[str, dict[str, Any]]]:
    path = Path(spec.target)
    if not path.exists():
        raise InvalidValue(f"no snapshot file at {path}")
    if path.suffix in (".ndjson", ".jsonl"):
        for wanted in kinds:  # one pass per kind: groups after every user is known
            skip = f'"{GROUP_SCHEMA}"' if wanted == "User" else None
            for resource in _ndjson(path, skip):
                if kind_of(resource) == wanted:
                    yield wanted, resource
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
        if kind_of(resource) in kinds:
            yield kind_of(resource), resource


def iter_source(
    spec: SourceSpec, kinds: tuple[str, ...] = KINDS
) -> Iterator[tuple[str, dict[str, Any]]]:
    """The source's resources of these kinds, users before groups."""
    if spec.kind == "scim":
        return iter_scim_endpoint(spec, kinds)
    if spec.kind == "file":
        return iter_file(spec, kinds)
    raise InvalidValue("the mirror is read by the reconciler itself")
