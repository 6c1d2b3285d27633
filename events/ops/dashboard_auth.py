"""Who may use the operator dashboard: whoever holds the operator token.

Scripts send it as `Authorization: Bearer <token>`. Browsers cannot add a header when
they navigate, so the login form trades the token for an HttpOnly session cookie
`<issued unix time>.<nonce>.<HMAC-SHA256(token, issued.nonce)>`: it carries no secret, expires after
SESSION_SECONDS and dies as soon as the token changes, or when it logs out (revoked in
Redis, events/web_security.py). Every comparison is constant-time. With no token
configured the dashboard is disabled, never open.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from enum import Enum

from fastapi import Request, Response

COOKIE_NAME = "scimsync_dashboard"
COOKIE_PATH = "/dashboard"
SESSION_SECONDS = 12 * 3600
CLOCK_SKEW_SECONDS = 60
DISABLED_MESSAGE = (
    "The operator dashboard is disabled: no operator token is configured. "
    "Set SCIMSYNC_OPERATOR_TOKEN and restart the API to enable it."
)


class Access(Enum):
    DISABLED = "disabled"  # no operator token configured
    DENIED = "denied"
    BEARER = "bearer"
    SESSION = "session"  # the login cookie

    @property
    def granted(self) -> bool:
        return self in (Access.BEARER, Access.SESSION)


def operator_token(configured: str | None) -> str | None:
    return configured or None  # an empty value configures nothing


def same_secret(presented: str, expected: str) -> bool:
    return hmac.compare_digest(presented.encode(), expected.encode())


def _signature(token: str, issued: int, nonce: str) -> str:
    message = f"scimsync-dashboard-session:{issued}:{nonce}".encode()
    return hmac.new(token.encode(), message, hashlib.sha256).hexdigest()


def new_session(token: str, now: float) -> str:
    """A new session; the nonce makes each login's cookie its own, so logging one out
    (revoked by value) never logs out another made in the same second."""
    issued, nonce = int(now), secrets.token_hex(8)
    return f"{issued}.{nonce}.{_signature(token, issued, nonce)}"


def session_valid(value: str, token: str, now: float) -> bool:
    issued_text, _, rest = value.partition(".")
    nonce, _, signature = rest.partition(".")
    if not issued_text.isdigit() or len(issued_text) > 12 or not 0 < len(nonce) <= 32:
        return False
    issued = int(issued_text)
    if not now - SESSION_SECONDS <= issued <= now + CLOCK_SKEW_SECONDS:
        return False
    return same_secret(signature, _signature(token, issued, nonce))


def check(
    request: Request, token: str | None, revoked: Callable[[str], bool] = lambda _: False
) -> Access:
    """How `request` may use the dashboard, given the configured operator `token`;
    `revoked(cookie)` says whether a session cookie was logged out."""
    if token is None:
        return Access.DISABLED
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and presented.strip():
        return Access.BEARER if same_secret(presented.strip(), token) else Access.DENIED
    cookie = request.cookies.get(COOKIE_NAME)
    if cookie and session_valid(cookie, token, time.time()) and not revoked(cookie):
        return Access.SESSION
    return Access.DENIED


def forged_write(request: Request, access: Access) -> bool:
    """A write riding on the cookie must be a JSON request. A page on another site can make
    a browser post a form with the cookie, but not a JSON body (that needs CORS, which we
    never grant); SameSite=Strict already stops most browsers, this stops the rest."""
    if access is not Access.SESSION:
        return False
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return media_type != "application/json"


def start_session(response: Response, token: str, *, secure: bool) -> None:
    response.set_cookie(
        COOKIE_NAME,
        new_session(token, time.time()),
        max_age=SESSION_SECONDS,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=secure,
    )


def end_session(response: Response) -> None:
    response.delete_cookie(COOKIE_NAME, path=COOKIE_PATH, httponly=True, samesite="strict")
