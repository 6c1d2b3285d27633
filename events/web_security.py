"""What the browser pages (the operator dashboard, a workspace's admin pages, the
invitation page) need beyond authentication: response headers that keep them out of
frames and sniffers, cookies marked Secure behind a TLS proxy, a logout that ends the
session on the server, and login attempts throttled per client address.

- Headers, on every response (harmless on JSON): `X-Frame-Options: DENY` and CSP
  `frame-ancestors 'none'` (no clickjacking of the replay or disconnect buttons),
  `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer` (an invitation link
  carries its token in the path: no page may pass it on as a Referer).
- Secure cookies: when the request came over https, or the service's public base URL is
  https (it sits behind a TLS proxy; uvicorn also honours `X-Forwarded-Proto` from the
  addresses in FORWARDED_ALLOW_IPS, 127.0.0.1 by default).
- Logout: a session cookie is signed, not stored, so logging out records the cookie's
  digest in Redis until the cookie would expire anyway; a revoked cookie is refused.
  If Redis cannot be asked the cookie is accepted (a logged-out cookie then works only
  while Redis is down and only until it expires) rather than locking every operator out.
- Login throttle: each client address may try LOGIN_ATTEMPTS logins, refilled one every
  LOGIN_REFILL_SECONDS (a token bucket in Redis, events/rate_limit.py); beyond, 429.
"""

from __future__ import annotations

import hashlib

import redis
import structlog
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from events.rate_limit import Limit, take
from reconciler.errors import RateLimited

log = structlog.get_logger(__name__)

SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
LOGIN_ATTEMPTS = 10
LOGIN_REFILL_SECONDS = 30.0


class SecurityHeaders:
    """Pure ASGI middleware: adds SECURITY_HEADERS a response does not set itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, with_headers)


def cookie_secure(scheme: str, base_url: str) -> bool:
    return scheme == "https" or base_url.startswith("https://")


def _revoked_key(cookie: str) -> str:
    return f"scimsync:session-revoked:{hashlib.sha256(cookie.encode()).hexdigest()}"


def revoke_session(client: redis.Redis, cookie: str, ttl_seconds: int) -> None:
    """Refuse this session cookie from now until it would have expired anyway."""
    try:
        client.set(_revoked_key(cookie), b"1", ex=max(1, ttl_seconds))
    except redis.RedisError as exc:
        log.warning("session_revoke_failed", error=type(exc).__name__)


def session_revoked(client: redis.Redis, cookie: str) -> bool:
    try:
        return bool(client.exists(_revoked_key(cookie)))
    except redis.RedisError as exc:
        log.warning("session_revocation_unknown", error=type(exc).__name__)
        return False


def throttle_login(client: redis.Redis, scope: str, source: str) -> None:
    """Spend one of `source`'s login attempts at `scope` or raise RateLimited (429)."""
    limit = Limit(per_second=1 / LOGIN_REFILL_SECONDS, burst=LOGIN_ATTEMPTS)
    try:
        decision = take(client, f"scimsync:login:{scope}:{source}", limit)
    except redis.RedisError as exc:
        log.warning("login_throttle_unavailable", error=type(exc).__name__)
        return
    if not decision.allowed:
        log.warning("login_throttled", scope=scope, source=source)
        raise RateLimited(
            f"too many login attempts from this address; retry in {decision.retry_after:.0f} s",
            retry_after=decision.retry_after,
        )
