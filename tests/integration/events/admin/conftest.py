"""Fixtures for the admin API tests: a tenant with SSO and SCIM on, its admin and its IdP."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine

from tests.integration.events.admin.support import AdminApi, IdpClient
from tests.support.workspace import TenantHandle, make_tenant


@pytest.fixture
def tenant(engine: Engine, service_env: Any) -> TenantHandle:
    return make_tenant(engine)


@pytest.fixture
def admin(api: Any, tenant: TenantHandle) -> AdminApi:
    return AdminApi(api, tenant)


@pytest.fixture
def idp(api: Any, tenant: TenantHandle, engine: Engine) -> IdpClient:
    return IdpClient(api, tenant, engine)
