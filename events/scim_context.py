"""Who is calling the SCIM API: the tenant and the token, checked once per request."""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from fastapi import Request
from sqlalchemy import Engine

from events.errors import Unauthorized
from events.rate_limit import enforce
from storage import tenants
from storage.db import get_engine, unit_of_work
from storage.tenants import Tenant
from worker.settings import get_settings


@dataclass(frozen=True)
class ScimContext:
    tenant: Tenant
    token_id: str
    engine: Engine
    base_url: str


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def scim_context(request: Request, tenant_id: str) -> ScimContext:
    """Authenticate, then spend one of the tenant's rate-limit tokens (events/rate_limit.py).

    One dependency rather than two: each sync dependency is a trip through the thread
    pool, and every SCIM request pays for it.
    """
    engine = get_engine()
    token = bearer(request)
    with unit_of_work(engine, write=False) as conn:
        tenant = tenants.find(conn, tenant_id)
        if tenant is None or not tenant.scim_enabled:
            raise Unauthorized("unknown tenant or SCIM not enabled")
        token_id = tenants.verify_token(conn, tenant_id, "scim", token)
    structlog.contextvars.bind_contextvars(tenant_id=tenant_id, token_id=token_id)
    request.state.tenant_id = tenant_id
    enforce(tenant.id, tenant.options)  # after authentication: strangers spend no tokens
    base = f"{get_settings().base_url}/scim/v2/{tenant_id}"
    return ScimContext(tenant=tenant, token_id=token_id, engine=engine, base_url=base)
