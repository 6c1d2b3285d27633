"""Replay a recorded IdP request sequence through HTTP and the real apply path.

A fixture (tests/fixtures/idp/<idp>/<name>.json) is what one IdP sends, step by
step, written from its published documentation:

    {"description": "...", "source": "which documentation it follows",
     "tenant": {"idp": "okta", "domains": ["acme.test"], "options": {}},
     "steps": [
       {"note": "lookup before create",
        "request": {"method": "GET", "path": "/Users?filter=userName eq \\"a@acme.test\\""},
        "expect": {"status": 200, "match": {"totalResults": 0}}},
       {"request": {"method": "POST", "path": "/Users", "body": {...}},
        "expect": {"status": 201}, "capture": {"alice": "id"}},
       {"apply": true}
     ],
     "workspace": {"members": {"a@acme.test": {"status": "active", "groups": ["Eng (SCIM)"]}},
                   "groups": ["Eng (SCIM)"]}}

`${name}` in a path, a body or an expected value is what an earlier step captured.
`replay_fixture(..., via_bulk=True)` sends every write as a one-operation POST /Bulk
instead (`BulkReplay`): the same sequence must then reach the same workspace, which is
how the tests prove that /Bulk applies each IdP's dialect as the direct routes do.
`match` maps paths (`Resources/0/active`; `members/*/value` for the sorted
values of every item) to expected values; `absent` lists
paths that must not exist. `{"apply": true}` drains the tenant's events with the
worker's pipeline; `{"workspace": {...}}` does too, then compares the workspace
as it stands. The final workspace is compared exactly: every member (the
Owner included), each one's status and SCIM groups, and every group name.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, select

from storage import tenants
from storage.db import unit_of_work
from storage.schema import group_memberships, members, workspace_groups
from tests.support.workspace import TenantHandle, make_tenant
from worker.pipeline import drain

FIXTURES = Path(__file__).resolve().parents[4] / "fixtures" / "idp"
BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
MISSING = object()


def fixtures(idp: str) -> list[Path]:
    found = sorted((FIXTURES / idp).glob("*.json"))
    assert found, f"no fixtures for {idp}"
    return found


@dataclass
class Replay:
    api: Any
    engine: Engine
    tenant: TenantHandle
    captured: dict[str, str] = field(default_factory=dict)

    def fill(self, value: Any) -> Any:
        if isinstance(value, str):
            return PLACEHOLDER.sub(lambda m: self.captured[m.group(1)], value)
        if isinstance(value, list):
            return [self.fill(v) for v in value]
        if isinstance(value, dict):
            return {self.fill(k): self.fill(v) for k, v in value.items()}
        return value

    def send(self, request: dict[str, Any]) -> Any:
        path = self.fill(request["path"])
        path = quote(path, safe="/?&=%:[]$,.-_~@")  # spaces and quotes, as an HTTP client sends
        url = self.tenant.scim_base + path
        body = self.fill(request.get("body"))
        return self.api.request(request["method"], url, json=body, headers=self.tenant.scim_headers)

    def apply(self) -> None:
        result = drain(self.engine, self.tenant.id, batch_size=500, time_budget=10)
        assert not result.dead, [(e.resource_type, e.resource_id) for e in result.dead]
        assert not result.failed and not result.more


@dataclass
class Answer:
    """A /Bulk operation's outcome, read like the direct request's response."""

    status_code: int
    body: Any

    @property
    def content(self) -> bytes:
        return b"" if self.body is None else json.dumps(self.body).encode()

    @property
    def text(self) -> str:
        return self.content.decode()

    def json(self) -> Any:
        return self.body


class BulkReplay(Replay):
    """Writes go as one-operation /Bulk requests; reads go directly."""

    def send(self, request: dict[str, Any]) -> Any:
        if request["method"] == "GET":
            return super().send(request)
        path = self.fill(request["path"]).partition("?")[0]  # Entra's flag: not a bulk path
        operation = {"method": request["method"], "path": path, "bulkId": "step"}
        if request.get("body") is not None:
            operation["data"] = self.fill(request["body"])
        bulk = {"schemas": [BULK_REQUEST], "Operations": [operation]}
        url = f"{self.tenant.scim_base}/Bulk"
        response = self.api.post(url, json=bulk, headers=self.tenant.scim_headers)
        assert response.status_code == 200, response.text
        (outcome,) = response.json()["Operations"]
        status = int(outcome["status"])
        if status >= 400:
            return Answer(status, outcome["response"])
        if "location" not in outcome:  # a DELETE
            return Answer(status, None)
        # The direct route answers with the resource as it now stands; read it back.
        read = self.api.get(outcome["location"], headers=self.tenant.scim_headers)
        assert read.status_code == 200, read.text
        return Answer(status, read.json())


def lookup(document: Any, dotted: str) -> Any:
    """The value at a `/`-separated path; `*` over a list yields the sorted values below it."""
    head, _, rest = dotted.partition("/")
    if head == "*" and isinstance(document, list):
        found = [lookup(item, rest) if rest else item for item in document]
        return sorted(v for v in found if v is not MISSING)
    if isinstance(document, list) and head.isdigit() and int(head) < len(document):
        current = document[int(head)]
    elif isinstance(document, dict) and head in document:
        current = document[head]
    else:
        return MISSING
    return lookup(current, rest) if rest else current


def check(step: dict[str, Any], response: Any, replay: Replay, where: str) -> None:
    expect = step.get("expect", {})
    body = response.json() if response.content else None
    allowed = expect.get("status", 200)  # one status, or the list the IdP accepts
    allowed = allowed if isinstance(allowed, list) else [allowed]
    assert response.status_code in allowed, f"{where}: {response.text}"
    for dotted, wanted in replay.fill(expect.get("match", {})).items():
        wanted = sorted(wanted) if "*" in dotted.split("/") else wanted
        assert lookup(body, dotted) == wanted, f"{where}: {dotted} in {body}"
    for dotted in expect.get("absent", []):
        assert lookup(body, dotted) is MISSING, f"{where}: {dotted} present in {body}"
    for name, dotted in step.get("capture", {}).items():
        value = lookup(body, dotted)
        assert isinstance(value, str), f"{where}: nothing to capture at {dotted}"
        replay.captured[name] = value


def workspace_state(engine: Engine, tenant_id: str) -> dict[str, Any]:
    with unit_of_work(engine, write=False) as conn:
        people = conn.execute(
            select(members.c.id, members.c.email_ci, members.c.status).where(
                members.c.tenant_id == tenant_id
            )
        ).all()
        groups = dict(
            conn.execute(
                select(workspace_groups.c.id, workspace_groups.c.name).where(
                    workspace_groups.c.tenant_id == tenant_id
                )
            ).all()
        )
        pairs = conn.execute(
            select(group_memberships.c.member_id, group_memberships.c.group_id).where(
                group_memberships.c.tenant_id == tenant_id
            )
        ).all()
    joined: dict[str, list[str]] = {}
    for member_id, group_id in pairs:
        joined.setdefault(member_id, []).append(groups[group_id])
    return {
        "members": {
            email: {"status": status, "groups": sorted(joined.get(member_id, []))}
            for member_id, email, status in people
        },
        "groups": sorted(groups.values()),
    }


def expected_workspace(wanted: dict[str, Any]) -> dict[str, Any]:
    return {
        "members": {
            email: {"status": m["status"], "groups": sorted(m.get("groups", []))}
            for email, m in wanted["members"].items()
        },
        "groups": sorted(wanted["groups"]),
    }


def replay_fixture(api: Any, engine: Engine, path: Path, *, via_bulk: bool = False) -> Replay:
    fixture = json.loads(path.read_text())
    setup = fixture["tenant"]
    domains = tuple(setup.get("domains", ["acme.test"]))
    tenant = make_tenant(engine, idp=setup["idp"], domains=domains)
    if setup.get("options"):
        with unit_of_work(engine) as conn:
            tenants.update_fields(conn, tenant.id, options=setup["options"])
    replay = (BulkReplay if via_bulk else Replay)(api, engine, tenant)
    for index, step in enumerate(fixture["steps"]):
        where = f"{path.name} step {index} ({step.get('note', '')})"
        if step.get("apply") or "workspace" in step:
            replay.apply()
            if "workspace" in step:
                state = workspace_state(engine, tenant.id)
                assert state == expected_workspace(step["workspace"]), (where, state)
            continue
        check(step, replay.send(step["request"]), replay, where)
    replay.apply()
    assert workspace_state(engine, tenant.id) == expected_workspace(fixture["workspace"]), path.name
    return replay
