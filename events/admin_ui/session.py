"""Who may use a workspace's admin pages: whoever holds its admin token.

Scripts send the token as `Authorization: Bearer <token>`. A browser logs in once with
the token and gets an HttpOnly, SameSite=Strict cookie scoped to the workspace's pages:
`<issued>.<token id>.<nonce>.<HMAC-SHA256 keyed by the token's stored hash>`. It carries
no secret, expires after SESSION_SECONDS, and dies when the token is rotated or revoked,
or when it logs out (revoked in Redis, events/web_security.py; the nonce keeps two logins
of one second apart).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request, Response
from sqlalchemy import Engine

from events.scim_api.context import bearer
from reconciler.errors import Unauthorized
from storage import tenants
from storage.db import unit_of_work

COOKIE_NAME = "scimsync_admin"
SESSION_SECONDS = 8 * 3600


class LoginRequired(Exception):
    """No valid token or session: the page answers with the login form."""

    def __init__(self, tenant_id: str):
        super().__init__(tenant_id)
        self.tenant_id = tenant_id


@dataclass(frozen=True)
class AdminSession:
    tenant_id: str
    actor: str  # the admin token's id: the audit log's "who"
    engine: Engine


def cookie_path(tenant_id: str) -> str:
    return f"/workspaces/{tenant_id}"


def _signature(key: str, tenant_id: str, token_id: str, issued: int, nonce: str) -> str:
    message = f"scimsync-admin-session:{tenant_id}:{token_id}:{issued}:{nonce}".encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def session_value(token_hash: str, tenant_id: str, token_id: str, now: float) -> str:
    issued, nonce = int(now), secrets.token_hex(8)
    signature = _signature(token_hash, tenant_id, token_id, issued, nonce)
    return f"{issued}.{token_id}.{nonce}.{signature}"


def _from_cookie(engine: Engine, tenant_id: str, value: str, now: float) -> str | None:
    issued_text, token_id, nonce, signature = ([*value.split(".", 3), "", "", ""])[:4]
    if not issued_text.isdigit() or len(issued_text) > 12 or not token_id or not signature:
        return None
    if not 0 < len(nonce) <= 32:
        return None
    issued = int(issued_text)
    if not (issued - 60 <= now < issued + SESSION_SECONDS):
        return None
    with unit_of_work(engine, write=False) as conn:
        key = tenants.live_token_hash(conn, tenant_id, token_id, "admin")
    if key is None:
        return None
    expected = _signature(key, tenant_id, token_id, issued, nonce)
    return token_id if hmac.compare_digest(expected, signature) else None


def authenticate(
    request: Request,
    engine: Engine,
    tenant_id: str,
    revoked: Callable[[str], bool] = lambda _: False,
) -> AdminSession:
    """`revoked(cookie)` says whether a session cookie was logged out."""
    if request.headers.get("authorization"):
        try:
            with unit_of_work(engine, write=False) as conn:
                token_id = tenants.verify_token(conn, tenant_id, "admin", bearer(request))
        except Unauthorized as refused:
            raise LoginRequired(tenant_id) from refused
        return AdminSession(tenant_id, token_id, engine)
    value = request.cookies.get(COOKIE_NAME)
    from_cookie = _from_cookie(engine, tenant_id, value, time.time()) if value else None
    if from_cookie is not None and revoked(value or ""):
        from_cookie = None
    if from_cookie is None:
        raise LoginRequired(tenant_id)
    return AdminSession(tenant_id, from_cookie, engine)


def log_in(engine: Engine, tenant_id: str, presented: str) -> str | None:
    """The session cookie's value for a live admin token, else None."""
    try:
        with unit_of_work(engine, write=False) as conn:
            token_id = tenants.verify_token(conn, tenant_id, "admin", presented)
            key = tenants.live_token_hash(conn, tenant_id, token_id, "admin")
    except Unauthorized:
        return None
    return session_value(key, tenant_id, token_id, time.time()) if key else None


def start_session(response: Response, tenant_id: str, value: str, *, secure: bool) -> None:
    response.set_cookie(
        COOKIE_NAME,
        value,
        max_age=SESSION_SECONDS,
        path=cookie_path(tenant_id),
        httponly=True,
        samesite="strict",
        secure=secure,
    )


def end_session(response: Response, tenant_id: str) -> None:
    response.delete_cookie(COOKIE_NAME, path=cookie_path(tenant_id))
