"""Webhook routes (docs/architecture.md §5): signed canonical pushes and Okta Event Hooks.

Signed pushes authenticate with the tenant's signing keys (`scimsync webhook
create-secret`): HMAC needs the key itself, so it is stored sealed (storage/sealed.py)
with SCIMSYNC_SECRET_KEY. Okta Event Hooks present a bearer secret of their own
(`scimsync webhook create-okta-secret`), stored as a hash like every token: one secret
is never both. Every live secret is accepted, so a sender can move to a new one before
the old is revoked.

- `POST /hooks/v1/{tenant}/events`: header `X-Scimsync-Signature: t=<unix>,v1=<hex>`,
  hex = HMAC-SHA256(secret, f"{t}.{raw body}"); t within 300 s of our clock. The
  body is one canonical event or `{"events": [...]}` (events/hooks/canonical.py);
  all of them apply in one transaction or none does. An event id seen before is
  answered 200 and changes nothing.
- `GET /hooks/v1/{tenant}/okta`: Okta's one-time verification, echoing
  `X-Okta-Verification-Challenge`; `POST` the event deliveries (events/hooks/okta.py).
  Okta presents the secret as the whole `Authorization` header value (a
  "Bearer " prefix is accepted too).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from secrets import token_hex
from typing import Any

import structlog
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy import Connection

from events import guard
from events.body import json_object
from events.hooks import okta as okta_hooks
from events.hooks.canonical import WebhookEvent, Writer, apply_event, describe, record_receipt
from events.ingest.service import IngestSession, ingest_session
from events.runtime import Runtime, runtime, runtime_of
from reconciler.errors import InvalidValue, PayloadTooLarge, Refusal, Unauthorized
from storage import tenants
from storage.db import unit_of_work
from storage.tenants import Tenant

SIGNATURE_HEADER = "X-Scimsync-Signature"
TOLERANCE_SECONDS = 300
MAX_EVENTS_PER_DELIVERY = 1000
# A sender signs with each secret it holds during a rotation: a handful, never hundreds.
MAX_SIGNATURES = 8
_UNKNOWN_TENANT_KEY = token_hex(32)  # signs nothing anyone holds
MAX_SIGNATURE_HEADER_LENGTH = 1024  # "t=" and 10 digits, then 8 times ",v1=" and 64 hex: 556


# --- signatures (pure) -------------------------------------------------------------


def sign(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={sign(secret, timestamp, body)}"


def parse_signature(header: str | None, now: float) -> tuple[int, list[str]]:
    """The timestamp and the `v1` values of `header`, or Unauthorized; no HMAC is computed.

    Each candidate signature used to cost an HMAC over the whole body, so a 900 KB push
    with 200 `v1=` values cost ten times one with a single value (issue 16). The header
    is refused when longer than `MAX_SIGNATURE_HEADER_LENGTH` or holding more than
    `MAX_SIGNATURES` values, before the tenant is looked up or anything is hashed.
    """
    if not header:
        raise Unauthorized(f"missing {SIGNATURE_HEADER} header")
    if len(header) > MAX_SIGNATURE_HEADER_LENGTH:
        raise Unauthorized(
            f"{SIGNATURE_HEADER} header over {MAX_SIGNATURE_HEADER_LENGTH} characters"
        )
    timestamp, signatures = None, []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            signatures.append(value)
    if timestamp is None or not signatures:
        raise Unauthorized(f"malformed {SIGNATURE_HEADER} header: want t=<unix>,v1=<hex>")
    if len(signatures) > MAX_SIGNATURES:
        raise Unauthorized(f"{SIGNATURE_HEADER} header holds more than {MAX_SIGNATURES} v1 values")
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        raise Unauthorized(f"signature timestamp is more than {TOLERANCE_SECONDS} s from now")
    return timestamp, signatures


def check_signature(timestamp: int, signatures: list[str], body: bytes, secrets: list[str]) -> None:
    """Raise Unauthorized unless one of `signatures` is the body's HMAC under a live secret:
    one HMAC per secret, however many values the header holds."""
    expected = [sign(secret, timestamp, body) for secret in secrets]
    matched = [
        hmac.compare_digest(digest, signature) for digest in expected for signature in signatures
    ]
    if not any(matched):
        raise Unauthorized()  # the words of every refused credential (reconciler/errors.py)


def verify_signature(header: str | None, body: bytes, secrets: list[str], now: float) -> None:
    """Raise Unauthorized unless `header` signs `body` with a live secret, recently."""
    timestamp, signatures = parse_signature(header, now)
    check_signature(timestamp, signatures, body, secrets)


# --- request plumbing --------------------------------------------------------------


# The tenant's rate limit (events/rate_limit.py) is taken once the request authenticated:
# a stranger's pushes are charged to their address (events/guard.py), never to the tenant.
router = APIRouter(prefix="/hooks/v1/{tenant_id}")


async def raw_body(request: Request) -> bytes:
    body = await request.body()
    limit = runtime_of(request).settings.max_body_bytes
    if len(body) > limit:
        raise PayloadTooLarge(f"body over {limit} bytes")
    return body


def _live_tenant(conn: Connection, tenant_id: str) -> Tenant | None:
    tenant = tenants.find(conn, tenant_id)
    return tenant if tenant is not None and tenant.scim_enabled else None


def _authenticated(request: Request, tenant: Tenant) -> Tenant:
    structlog.contextvars.bind_contextvars(tenant_id=tenant.id)
    request.state.tenant_id = tenant.id
    return tenant


def signed_tenant(tenant_id: str, request: Request, body: bytes = Depends(raw_body)) -> Tenant:
    """The tenant, once the body's signature checks out (runs before the body is parsed).
    The header's shape and size are checked first: a malformed one costs no SQL, no HMAC.

    An unknown tenant (or one with provisioning off) is checked against a throw-away key:
    it costs the same HMAC and gets the same 401 as a wrong signature (issue 16)."""
    parsed: list[tuple[int, list[str]]] = []

    def shape() -> None:  # no SQL and no HMAC for a malformed header
        parsed.append(parse_signature(request.headers.get(SIGNATURE_HEADER), time.time()))

    def check(conn: Connection) -> Tenant | None:
        timestamp, signatures = parsed[0]
        tenant = _live_tenant(conn, tenant_id)
        sealer = runtime_of(request).sealer
        secrets = tenants.webhook_secrets(conn, tenant_id, sealer) if tenant else []
        check_signature(timestamp, signatures, body, secrets or [_UNKNOWN_TENANT_KEY])
        return tenant

    return _charged(request, check, before=shape)


def okta_tenant(tenant_id: str, request: Request) -> Tenant:
    """The tenant, once the Authorization header holds one of its Okta hook secrets."""
    presented = request.headers.get("authorization", "").strip()
    if presented.lower().startswith("bearer "):
        presented = presented[7:].strip()

    def check(conn: Connection) -> Tenant | None:
        tenant = _live_tenant(conn, tenant_id)
        tenants.verify_token(conn, tenant_id, "okta_hook", presented)
        return tenant

    return _charged(request, check)


def _charged(
    request: Request,
    check: Callable[[Connection], Tenant | None],
    *,
    before: Callable[[], None] = lambda: None,
) -> Tenant:
    """Run a hook's credential checks, `before` (no database) then `check` (None: no such
    live tenant): a refusal is charged to the caller's address, never the tenant; an
    accepted one takes the tenant's rate-limit token."""
    rt = runtime_of(request)
    guard.refuse_blocked_source(request, rt)
    try:
        before()
        with unit_of_work(rt.engine, write=False) as conn:
            tenant = check(conn)
        if tenant is None:
            raise Unauthorized()
    except Unauthorized:
        guard.charge_failure(request, rt)
        raise
    guard.take_tenant_token(request, rt, tenant)
    return _authenticated(request, tenant)


def _canonical_events(payload: dict[str, Any]) -> list[WebhookEvent]:
    raw = payload.get("events", [payload])
    if not isinstance(raw, list) or not 0 < len(raw) <= MAX_EVENTS_PER_DELIVERY:
        raise InvalidValue(f"'events' must hold 1 to {MAX_EVENTS_PER_DELIVERY} events")
    try:
        return [WebhookEvent.model_validate(item) for item in raw]
    except ValidationError as exc:
        raise InvalidValue(describe(exc)) from None


# --- routes ----------------------------------------------------------------------

# Dependencies resolve in order: authentication first, then the body is parsed.


@router.post("/events", name="webhook_events")
def receive_events(
    tenant: Tenant = Depends(signed_tenant),
    payload: dict[str, Any] = Depends(json_object),
    rt: Runtime = Depends(runtime),
) -> JSONResponse:
    events = _canonical_events(payload)
    applied = replayed = 0
    with _session(rt, tenant, actor="webhook") as session:
        for index, event in enumerate(events):
            if not record_receipt(session.conn, tenant.id, event.id, session.now):
                replayed += 1
                continue
            try:
                apply_event(Writer(session), event.type, event.data)
            except Refusal as exc:
                raise type(exc)(
                    f"events[{index}] ({event.id}): {exc.detail}",
                    status=exc.status,
                    scim_type=exc.scim_type,
                ) from None
            applied += 1
    return JSONResponse({"received": len(events), "applied": applied, "replayed": replayed})


@router.get("/okta", name="okta_verification")
def okta_verification(request: Request, tenant: Tenant = Depends(okta_tenant)) -> JSONResponse:
    challenge = request.headers.get("x-okta-verification-challenge")
    if not challenge:
        raise InvalidValue("missing X-Okta-Verification-Challenge header")
    return JSONResponse({"verification": challenge})


@router.post("/okta", name="okta_events")
def okta_events(
    tenant: Tenant = Depends(okta_tenant),
    payload: dict[str, Any] = Depends(json_object),
    rt: Runtime = Depends(runtime),
) -> JSONResponse:
    events = okta_hooks.parse_delivery(payload)
    with _session(rt, tenant, actor=okta_hooks.ACTOR) as session:
        outcome = okta_hooks.receive(Writer(session), events)
    return JSONResponse(vars(outcome))


def _session(rt: Runtime, tenant: Tenant, *, actor: str) -> AbstractContextManager[IngestSession]:
    """The one write path (events/ingest/service.py) for a delivery: the tenant's dialect,
    audited as webhook writes, published after commit."""
    return ingest_session(
        rt.engine,
        tenant,
        actor=actor,
        publish=rt.publish,
        via="webhook",
        source="webhook",
        max_patch_operations=rt.settings.max_patch_operations,
    )
