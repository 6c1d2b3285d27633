"""PostgreSQL for the tests: a private cluster that may be stopped, or a fresh database.

`PostgresCluster` runs initdb + pg_ctl on a free port with data under /tmp, so
stopping it never touches the machine's shared server (5432).
`create_postgres_database` makes a fresh database on a server the tests only use.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import uuid
from pathlib import Path

import psutil

from tests.e2e.processes import free_port


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
        atexit.register(self.destroy)  # pg_ctl detaches the server: no Ctrl-C reaches it
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
        if not self.data.exists():
            return
        with contextlib.suppress(Exception):
            self.stop("immediate")
        postmaster = self._postmaster()
        if postmaster is not None:
            with contextlib.suppress(psutil.Error):
                postmaster.send_signal(signal.SIGKILL)
                postmaster.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)


def create_postgres_database(admin_url: str, prefix: str = "scimsync_e2e") -> str:
    """A new, empty database on the server of `admin_url`; returns its URL."""
    from sqlalchemy import text

    from storage.db import make_engine

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"{admin_url.rpartition('/')[0]}/{name}"


def drop_postgres_database(admin_url: str, url: str) -> None:
    from sqlalchemy import text

    from storage.db import make_engine

    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.rpartition("/")[2]}" WITH (FORCE)'))
    admin.dispose()
