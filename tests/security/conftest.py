"""Shared helpers for the security tests: two tenants, whole-database snapshots."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from storage.schema import audit_log, metadata
from tests.support.workspace import TenantHandle, make_tenant

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
# What must never reach a response body: tracebacks, SQL, file paths, driver names.
LEAK_MARKERS = (
    "Traceback",
    'File "',
    "/work/",
    ".py",
    "sqlalchemy",
    "psycopg",
    "sqlite",
    "SELECT ",
    "INSERT ",
    "UPDATE ",
    "DELETE FROM",
)


@pytest.fixture
def tenant(engine: Engine, service_env: Any) -> TenantHandle:
    return make_tenant(engine)


@pytest.fixture
def other(engine: Engine, service_env: Any) -> TenantHandle:
    return make_tenant(
        engine, name="Globex", domains=("globex.test",), owner_email="owner@globex.test"
    )


def row_counts(engine: Engine) -> dict[str, int]:
    """Rows in every table: equal before and after means a request changed nothing.

    The audit rows that note a refused write for the provisioning trace
    (events/refusal_trace.py) are not a change: they are left out of the count."""
    with engine.connect() as conn:
        counts = {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in metadata.sorted_tables
        }
        counts[audit_log.name] -= conn.execute(
            select(func.count()).where(audit_log.c.action == "ingest_refusal")
        ).scalar_one()
    return counts


def assert_no_leak(text: str, *, sent: str = "") -> None:
    """No marker of the service's insides in `text`; one the request itself carried (`sent`,
    e.g. a fuzzed event id "sqlite" that the error quotes) is the caller's, not a leak."""
    for marker in LEAK_MARKERS:
        if marker in sent:
            continue
        assert marker not in text, f"{marker!r} leaked into a response: {text[:500]}"


def assert_scim_error(
    response: Any, status: int, scim_type: str | None = None, *, echoed: str = ""
) -> dict[str, Any]:
    """A SCIM Error body; `echoed` is caller input the detail may quote (SQL-like or not)."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["schemas"] == [ERROR_SCHEMA]
    assert body["status"] == str(status)
    assert body["detail"]
    if scim_type:
        assert body.get("scimType") == scim_type, body
    assert_no_leak(response.text.replace(echoed, "") if echoed else response.text)
    return body
