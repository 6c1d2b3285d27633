"""Who is calling the SCIM API: the tenant and the token, checked once per request."""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from fastapi import Request
from sqlalchemy import Engine

from events import guard
from events.runtime import Runtime, runtime_of
from storage.tenants import Tenant


@dataclass(frozen=True)
class ScimContext:
    tenant: Tenant
    token_id: str
    engine: Engine
    base_url: str
    runtime: Runtime


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def scim_context(request: Request, tenant_id: str) -> ScimContext:
    """Authenticate (from memory for a token accepted in the last second:
    events/credentials.py), then spend one of the tenant's rate-limit tokens
    (events/rate_limit.py).

    One dependency rather than two: each sync dependency is a trip through the thread
    pool, and every SCIM request pays for it.
    """
    runtime = runtime_of(request)
    engine = runtime.engine
    token = bearer(request)
    # A source past its failed-authentication budget waits, unless its token is one this
    # process just accepted (the blocked check first: it is a dict lookup, usually empty).
    if runtime.limiter.source_blocked(guard.source(request)) and not runtime.credentials.remembers(
        tenant_id, "scim", token
    ):
        guard.refuse_blocked_source(request, runtime)
    tenant, token_id = runtime.credentials.authenticate(engine, tenant_id, "scim", token)
    if tenant is None or not tenant.scim_enabled or token_id is None:
        # One answer for an unknown tenant, SCIM off, and a missing or wrong token: a
        # stranger learns nothing of which tenant ids exist (issue 16). The failure is
        # charged to the client's address, never to the tenant.
        guard.refused(request, runtime)
    structlog.contextvars.bind_contextvars(tenant_id=tenant_id, token_id=token_id)
    request.state.tenant_id = tenant_id
    guard.take_tenant_token(request, runtime, tenant)  # after authentication: no stranger pays
    base = f"{runtime.settings.base_url}/scim/v2/{tenant_id}"
    return ScimContext(
        tenant=tenant, token_id=token_id, engine=engine, base_url=base, runtime=runtime
    )
