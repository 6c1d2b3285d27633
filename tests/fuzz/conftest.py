"""Fixtures for the fuzz tests: a tenant with SCIM on and no rate limit in the way."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine

from storage import tenants
from storage.db import unit_of_work
from tests.support.workspace import TenantHandle, make_tenant


@pytest.fixture
def tenant(engine: Engine, service_env: Any) -> TenantHandle:
    handle = make_tenant(engine)
    with unit_of_work(engine) as conn:  # throttling is tested in tests/security
        tenants.set_options(conn, handle.id, {"rate_limit_per_second": 0})
    return handle
