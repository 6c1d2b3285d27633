"""Who a bearer token is, remembered for at most a second.

Every SCIM request authenticates, and looking the tenant and token up in SQL cost
each write a read transaction of its own (on PostgreSQL a pool check-out with its
ping, a round trip, on SQLite a BEGIN and a COMMIT). An accepted token is kept in
this process, keyed by its SHA-256 hash (never the token), for `ttl` seconds: a
token revoked elsewhere (the CLI, another API process) stops working within that
time, and one revoked through this process's admin API at once (`forget`).
Refusals are not kept: a wrong token always asks the database, and a stranger
cannot fill the cache.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine

from storage import tenants
from storage.db import single_read
from storage.tenants import Tenant, TokenKind, hash_token

DEFAULT_TTL_SECONDS = 1.0
MAX_ENTRIES = 10_000  # live tokens of one deployment: far fewer


@dataclass(frozen=True)
class _Entry:
    tenant: Tenant
    token_id: str
    checked_at: float


class CredentialCache:
    def __init__(
        self,
        ttl: float = DEFAULT_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self._clock = clock
        self._entries: dict[tuple[str, str, str], _Entry] = {}
        self._lock = threading.Lock()

    def authenticate(
        self, engine: Engine, tenant_id: str, kind: TokenKind, presented: str | None
    ) -> tuple[Tenant | None, str | None]:
        """What `storage.tenants.authenticate` answers, from memory when it accepted this
        token less than `ttl` seconds ago (and the tenant then had SCIM on)."""
        if not presented:
            return self._ask(engine, tenant_id, kind, presented)
        key = (tenant_id, kind, hash_token(presented))
        entry = self._entries.get(key)
        now = self._clock()
        if entry is not None and now - entry.checked_at < self.ttl:
            return entry.tenant, entry.token_id
        tenant, token_id = self._ask(engine, tenant_id, kind, presented)
        with self._lock:
            if tenant is not None and tenant.scim_enabled and token_id is not None:
                if len(self._entries) >= MAX_ENTRIES:
                    self._entries.clear()
                self._entries[key] = _Entry(tenant, token_id, now)
            else:
                self._entries.pop(key, None)
        return tenant, token_id

    def remembers(self, tenant_id: str, kind: TokenKind, presented: str | None) -> bool:
        """Whether `presented` was accepted for the tenant less than `ttl` seconds ago."""
        if not presented:
            return False
        entry = self._entries.get((tenant_id, kind, hash_token(presented)))
        return entry is not None and self._clock() - entry.checked_at < self.ttl

    def forget(self, tenant_id: str) -> None:
        """Drop what is known of the tenant's tokens: called once this process has
        committed a change to them (SCIM or SSO switched, a token revoked)."""
        with self._lock:
            for key in [k for k in self._entries if k[0] == tenant_id]:
                del self._entries[key]

    @staticmethod
    def _ask(
        engine: Engine, tenant_id: str, kind: TokenKind, presented: str | None
    ) -> tuple[Tenant | None, str | None]:
        with single_read(engine) as conn:
            return tenants.authenticate(conn, tenant_id, kind, presented)
