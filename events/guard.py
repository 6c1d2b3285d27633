"""Who pays for a request (events/rate_limit.py): the tenant once authenticated, the
client's address when authentication fails.

Every route that authenticates calls these three in this order: `refuse_blocked_source`
before asking the database about a credential, `refused` (or `charge_failure`) when the
credential is not good (it charges the source and raises the one 401, or a 429 past the
source's budget),
and `take_tenant_token` once it is, which also leaves on the request what gives the
token back should the request never get to do its work (events/http_errors.py).
"""

from __future__ import annotations

from typing import NoReturn

from fastapi import Request

from events.rate_limit import Refund
from events.runtime import Runtime
from reconciler.errors import Unauthorized
from storage.tenants import Tenant

REFUND_STATE = "refund_rate_limit"


def source(request: Request) -> str:
    """The client's address as the server sees it (uvicorn applies X-Forwarded-For only
    from the proxies it trusts: its `--forwarded-allow-ips`, 127.0.0.1 by default)."""
    return request.client.host if request.client else "unknown"


def refuse_blocked_source(request: Request, runtime: Runtime) -> None:
    runtime.limiter.refuse_blocked(source(request))


def charge_failure(request: Request, runtime: Runtime) -> None:
    """One failed authentication, on the source's budget (RateLimited once it is spent)."""
    runtime.limiter.charge_failure(source(request))


def refused(request: Request, runtime: Runtime) -> NoReturn:
    charge_failure(request, runtime)
    raise Unauthorized()


def take_tenant_token(request: Request, runtime: Runtime, tenant: Tenant) -> None:
    """One of the tenant's rate-limit tokens (RateLimited when none is left)."""
    if runtime.limiter.enforce(tenant.id, tenant.options):
        setattr(request.state, REFUND_STATE, Refund(runtime.limiter, tenant.id, tenant.options))
