"""Tenants and their credentials: the write primitives behind the workspace services.

No rule is checked and nothing is audited here: the admin API and the CLI call
the services (reconciler/workspaces.py, sso.py), which check the rules, write
through these (storage/workspace/admin_store.py) and audit. Fixtures and
benchmarks seed tenants with them directly.

Tokens are 256 random bits, shown once, stored only as a SHA-256 hash (a slow
hash buys nothing against 256 bits of entropy) and compared in constant time. A webhook
signing key ("webhook") is also kept sealed (storage/sealed.py), since HMAC needs it in
clear; the Okta Event Hook secret ("okta_hook") is a bearer token like the others, so one
secret is never both a bearer credential and an HMAC key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, select, update

from reconciler.admin_store import IssuedToken as IssuedToken  # re-exported
from reconciler.admin_store import TokenKind as TokenKind  # re-exported
from reconciler.errors import NotFound, Unauthorized
from reconciler.ids import new_id
from reconciler.model import MemberStatus, Role
from storage.clock import utcnow
from storage.schema import api_tokens, members, tenants
from storage.sealed import Sealer

TOKEN_PREFIX = {
    "scim": "scim_",
    "admin": "adm_",
    "webhook": "whk_",
    "okta_hook": "okh_",
    "operator": "op_",
}
# What provisions into a workspace: revoked together when SSO is removed (rule 11).
PROVISIONING_KINDS: tuple[TokenKind, ...] = ("scim", "webhook", "okta_hook")


@dataclass(frozen=True)
class Tenant:
    id: str
    name: str
    idp: str
    sso_domains: tuple[str, ...]
    sso_configured: bool
    scim_enabled: bool
    owner_email: str | None
    options: dict[str, Any]
    created_at: datetime


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def tenant_from_row(row: Any) -> Tenant:
    return Tenant(
        id=row.id,
        name=row.name,
        idp=row.idp,
        sso_domains=tuple(row.sso_domains or ()),
        sso_configured=row.sso_configured,
        scim_enabled=row.scim_enabled,
        owner_email=row.owner_email,
        options=dict(row.options or {}),
        created_at=row.created_at,
    )


def create(
    conn: Connection,
    *,
    name: str,
    sso_domains: list[str],
    idp: str = "generic",
    owner_email: str | None = None,
    options: dict[str, Any] | None = None,
) -> Tenant:
    tenant_id = new_id()
    domains = sorted({d.strip().lower() for d in sso_domains if d.strip()})
    conn.execute(
        tenants.insert().values(
            id=tenant_id,
            name=name,
            idp=idp,
            sso_domains=domains,
            sso_provider="saml" if domains else None,
            sso_configured=bool(domains),
            scim_enabled=False,
            owner_email=owner_email.lower() if owner_email else None,
            options=options or {},
            created_at=utcnow(),
        )
    )
    return get(conn, tenant_id)


def get(conn: Connection, tenant_id: str) -> Tenant:
    row = conn.execute(select(tenants).where(tenants.c.id == tenant_id)).first()
    if row is None:
        raise NotFound(f"tenant {tenant_id} not found")
    return tenant_from_row(row)


# Asked on every request: built once, so SQLAlchemy reuses the compiled form.
_FIND_TENANT = select(tenants).where(tenants.c.id == bindparam("tenant_id"))
_LIVE_TOKEN = select(api_tokens.c.id, api_tokens.c.token_hash, api_tokens.c.tenant_id).where(
    api_tokens.c.token_hash == bindparam("digest"),
    api_tokens.c.kind == bindparam("kind"),
    api_tokens.c.revoked_at.is_(None),
)


_TENANT_WITH_TOKEN = (
    select(tenants, api_tokens.c.id.label("token_id"), api_tokens.c.token_hash)
    .select_from(
        tenants.outerjoin(
            api_tokens,
            and_(
                api_tokens.c.tenant_id == tenants.c.id,
                api_tokens.c.token_hash == bindparam("digest"),
                api_tokens.c.kind == bindparam("kind"),
                api_tokens.c.revoked_at.is_(None),
            ),
        )
    )
    .where(tenants.c.id == bindparam("tenant_id"))
)


def authenticate(
    conn: Connection, tenant_id: str, kind: TokenKind, presented: str | None
) -> tuple[Tenant | None, str | None]:
    """The tenant, and the id of `presented` when it is a live token of that kind for that
    tenant: one statement, as every request asks it (`verify_token` says why it is safe)."""
    digest = hash_token(presented) if presented else ""
    row = conn.execute(
        _TENANT_WITH_TOKEN, {"tenant_id": tenant_id, "digest": digest, "kind": kind}
    ).first()
    if row is None:
        return None, None
    matches = row.token_id is not None and hmac.compare_digest(row.token_hash, digest)
    return tenant_from_row(row), str(row.token_id) if presented and matches else None


def find(conn: Connection, tenant_id: str) -> Tenant | None:
    row = conn.execute(_FIND_TENANT, {"tenant_id": tenant_id}).first()
    return tenant_from_row(row) if row else None


def list_all(conn: Connection) -> list[Tenant]:
    return [tenant_from_row(r) for r in conn.execute(select(tenants).order_by(tenants.c.name))]


def update_fields(conn: Connection, tenant_id: str, **values: Any) -> Tenant:
    conn.execute(update(tenants).where(tenants.c.id == tenant_id).values(**values))
    return get(conn, tenant_id)


def issue_token(
    conn: Connection, tenant_id: str | None, kind: TokenKind, *, sealer: Sealer | None = None
) -> IssuedToken:
    """A new token; a webhook signing key is also kept sealed with `sealer` (required)."""
    token = TOKEN_PREFIX[kind] + secrets.token_urlsafe(32)
    if kind == "webhook" and sealer is None:
        raise ValueError("a webhook signing key is kept sealed: pass the sealer")
    token_id = new_id()
    conn.execute(
        api_tokens.insert().values(
            id=token_id,
            tenant_id=tenant_id,
            kind=kind,
            token_hash=hash_token(token),
            sealed_secret=sealer.seal(token) if kind == "webhook" and sealer else None,
            created_at=utcnow(),
        )
    )
    return IssuedToken(id=token_id, token=token)


def revoke_tokens(conn: Connection, tenant_id: str | None, kind: TokenKind) -> int:
    result = conn.execute(
        update(api_tokens)
        .where(
            api_tokens.c.tenant_id == tenant_id,
            api_tokens.c.kind == kind,
            api_tokens.c.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow())
    )
    return result.rowcount


def verify_token(
    conn: Connection, tenant_id: str | None, kind: TokenKind, presented: str | None
) -> str:
    """The token's id when `presented` is a live token of that kind for that tenant.

    The lookup is by hash (an index); the final comparison is constant-time so
    a timing difference never tells which part of a token was right.
    """
    if not presented:
        raise Unauthorized()
    digest = hash_token(presented)
    row = conn.execute(_LIVE_TOKEN, {"digest": digest, "kind": kind}).first()
    if row is None or not hmac.compare_digest(row.token_hash, digest) or row.tenant_id != tenant_id:
        raise Unauthorized()
    return str(row.id)


def webhook_secrets(conn: Connection, tenant_id: str, sealer: Sealer) -> list[str]:
    """The tenant's live signing keys, opened (one no configured key opens is skipped)."""
    rows = conn.execute(
        select(api_tokens.c.sealed_secret).where(
            api_tokens.c.tenant_id == tenant_id,
            api_tokens.c.kind == "webhook",
            api_tokens.c.revoked_at.is_(None),
        )
    )
    opened = (sealer.open(r.sealed_secret) for r in rows if r.sealed_secret)
    return [secret for secret in opened if secret]


def has_plaintext_secrets(conn: Connection) -> bool:
    found = conn.execute(select(api_tokens.c.id).where(api_tokens.c.secret.is_not(None)).limit(1))
    return found.first() is not None


def seal_plaintext_secrets(conn: Connection, sealer: Sealer) -> int:
    """Seal the signing keys stored in clear before revision 0009, and empty that column."""
    rows = conn.execute(
        select(api_tokens.c.id, api_tokens.c.secret).where(api_tokens.c.secret.is_not(None))
    ).all()
    for row in rows:
        conn.execute(
            update(api_tokens)
            .where(api_tokens.c.id == row.id)
            .values(sealed_secret=sealer.seal(row.secret), secret=None)
        )
    return len(rows)


def revoke_provisioning_credentials(conn: Connection, tenant_id: str) -> int:
    """Every credential that provisions into the workspace: SCIM tokens, webhook signing
    keys and Okta Event Hook secrets."""
    return sum(revoke_tokens(conn, tenant_id, kind) for kind in PROVISIONING_KINDS)


def rotate_token(conn: Connection, tenant_id: str, kind: TokenKind) -> IssuedToken:
    """A new token of `kind`; every earlier one stops working at once (same transaction)."""
    revoke_tokens(conn, tenant_id, kind)
    return issue_token(conn, tenant_id, kind)


def enable_scim(conn: Connection, tenant_id: str) -> IssuedToken:
    """SCIM on and a new token (earlier ones revoked). Rule 1 is the caller's:
    `reconciler.sso.enable_scim`."""
    update_fields(conn, tenant_id, scim_enabled=True)
    return rotate_token(conn, tenant_id, "scim")


def disable_scim(conn: Connection, tenant_id: str) -> int:
    """SCIM off; returns how many SCIM tokens were revoked."""
    conn.execute(update(tenants).where(tenants.c.id == tenant_id).values(scim_enabled=False))
    return revoke_tokens(conn, tenant_id, "scim")


def set_options(conn: Connection, tenant_id: str, values: dict[str, Any]) -> Tenant:
    """Merge `values` into the tenant's options; a None value removes that option."""
    options = dict(get(conn, tenant_id).options)
    for key, value in values.items():
        if value is None:
            options.pop(key, None)
        else:
            options[key] = value
    return update_fields(conn, tenant_id, options=options)


def count(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(tenants)).scalar_one())


def create_workspace(
    conn: Connection,
    *,
    name: str,
    sso_domains: list[str],
    idp: str = "generic",
    owner_email: str | None = None,
) -> dict[str, Any]:
    """A tenant with SSO configured, its admin token and, when named, its Owner member
    (active, with a password). `reconciler.workspaces.create_workspace` audits it."""
    tenant = create(conn, name=name, sso_domains=sso_domains, idp=idp, owner_email=owner_email)
    admin = issue_token(conn, tenant.id, "admin")
    if owner_email:
        now = utcnow()
        conn.execute(
            members.insert().values(
                tenant_id=tenant.id,
                id=new_id(),
                email=owner_email,
                email_ci=owner_email.lower(),
                display_name=owner_email.split("@")[0],
                status=MemberStatus.ACTIVE.value,
                role=Role.OWNER.value,
                has_password=True,
                created_at=now,
                updated_at=now,
            )
        )
    return {
        "id": tenant.id,
        "name": tenant.name,
        "idp": tenant.idp,
        "sso_domains": list(tenant.sso_domains),
        "owner_email": tenant.owner_email,
        "admin_token": admin.token,
    }


def live_token_hash(conn: Connection, tenant_id: str, token_id: str, kind: TokenKind) -> str | None:
    """The stored hash of a live token, by id: the key a browser session made from that
    token is signed with, so the session dies when the token is rotated or revoked."""
    row = conn.execute(
        select(api_tokens.c.token_hash).where(
            api_tokens.c.id == token_id,
            api_tokens.c.tenant_id == tenant_id,
            api_tokens.c.kind == kind,
            api_tokens.c.revoked_at.is_(None),
        )
    ).first()
    return str(row.token_hash) if row is not None else None
