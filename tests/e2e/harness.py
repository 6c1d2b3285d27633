"""The service as real processes, started from its own CLI, for e2e and fault tests.

`ServiceStack` runs `scimsync api|worker|beat` (and one-shot commands such as
`scimsync db upgrade` or `scimsync tenant create --json`) against one database
and one Redis, each process in its own process group with its log in
`<root>/logs`. The processes run from `root` (not the repository) so that a
developer's `.env` or `./var` cannot leak in; the environment names everything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from tests.e2e.processes import MARKER_VARIABLE, ManagedProcess, free_port, kill_marked, wait_for
from tests.support.workspace import TEST_SECRET_KEY

OPERATOR_TOKEN = "op-e2e-token"


def scimsync_command() -> list[str]:
    """The installed `scimsync` script next to this interpreter, else the same via -c."""
    script = Path(sys.executable).parent / "scimsync"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from worker.cli.main import main; main()"]


def clean_environment() -> dict[str, str]:
    """This process's environment without any SCIMSYNC_* setting (each stack sets its own)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SCIMSYNC_")}


@dataclass(frozen=True)
class Tenant:
    id: str
    admin_token: str
    scim_token: str
    base_url: str  # http://host:port

    @property
    def scim_url(self) -> str:
        return f"{self.base_url}/scim/v2/{self.id}"

    @property
    def scim_headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.scim_token}",
            "Content-Type": "application/scim+json",
        }


@dataclass
class ServiceStack:
    root: Path
    database_url: str
    redis_url: str | None
    extra_env: dict[str, str] = field(default_factory=dict)
    marker: str = field(default_factory=lambda: uuid.uuid4().hex)
    port: int = field(default_factory=free_port)
    processes: list[ManagedProcess] = field(default_factory=list)
    _engine: Engine | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_dir(self) -> Path:
        return self.root / "logs"

    def env(self) -> dict[str, str]:
        env = clean_environment()
        env.update(
            {
                "SCIMSYNC_DATABASE_URL": self.database_url,
                "SCIMSYNC_VAR_DIR": str(self.root / "var"),
                "SCIMSYNC_HOST": "127.0.0.1",
                "SCIMSYNC_PORT": str(self.port),
                "SCIMSYNC_LOG_FORMAT": "json",
                "SCIMSYNC_LOG_LEVEL": "INFO",
                "SCIMSYNC_OPERATOR_TOKEN": OPERATOR_TOKEN,
                "SCIMSYNC_SECRET_KEY": TEST_SECRET_KEY,
                "PYTHONUNBUFFERED": "1",
                MARKER_VARIABLE: self.marker,
            }
        )
        if self.redis_url:
            env["SCIMSYNC_REDIS_URL"] = self.redis_url
        env.update(self.extra_env)
        return env

    # --- one-shot commands -------------------------------------------------------

    def cli(
        self, *args: str, timeout: float = 120, ok: tuple[int, ...] = (0,)
    ) -> subprocess.CompletedProcess[str]:
        """`scimsync ARGS`; an exit code outside `ok` fails the test."""
        self.root.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [*scimsync_command(), *args],
            env=self.env(),
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode not in ok:
            raise AssertionError(
                f"scimsync {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
            )
        return done

    def cli_json(self, *args: str, timeout: float = 120, ok: tuple[int, ...] = (0,)) -> Any:
        return json.loads(self.cli(*args, "--json", timeout=timeout, ok=ok).stdout)

    def create_tenant(
        self, name: str, domain: str, idp: str = "generic", owner_email: str | None = None
    ) -> Tenant:
        owner = ["--owner-email", owner_email] if owner_email else []
        created = self.cli_json(
            "tenant", "create", "--name", name, "--sso-domain", domain, "--idp", idp, *owner
        )
        enabled = self.cli_json("scim", "enable", created["id"])
        assert enabled["base_url"] == f"{self.base_url}/scim/v2/{created['id']}"
        return Tenant(created["id"], created["admin_token"], enabled["token"], self.base_url)

    # --- long-running processes ----------------------------------------------------

    def spawn(self, name: str, *args: str) -> ManagedProcess:
        count = sum(1 for p in self.processes if p.name == name)
        process = ManagedProcess(
            name,
            [*scimsync_command(), *args],
            env=self.env(),
            cwd=self.root,
            log_path=self.log_dir / f"{name}-{count + 1}.log",
        ).start()
        self.processes.append(process)
        return process

    def start_api(self) -> ManagedProcess:
        api = self.spawn("api", "api")
        wait_for(lambda: self.ready(api), timeout=60, message=f"API ready on {self.base_url}")
        return api

    def ready(self, api: ManagedProcess | None = None) -> bool:
        if api is not None and not api.alive():
            raise AssertionError(f"the API exited:\n{api.log_tail()}")
        return httpx.get(f"{self.base_url}/readyz", timeout=2).status_code == 200

    def start_worker(self, concurrency: int = 2, wait_ready: bool = True) -> ManagedProcess:
        worker = self.spawn("worker", "worker", "--concurrency", str(concurrency))
        if wait_ready:
            wait_for(
                lambda: " ready." in worker.log_path.read_text(errors="replace"),
                timeout=60,
                message="Celery worker ready",
            )
        return worker

    def start_beat(self) -> ManagedProcess:
        return self.spawn("beat", "beat")

    def live(self, name: str) -> list[ManagedProcess]:
        return [p for p in self.processes if p.name == name and p.alive()]

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            process.stop(grace=10)
        kill_marked(self.marker)  # anything a child spawned outside its group
        if self._engine is not None:
            self._engine.dispose()

    # --- looking inside ------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            from storage.db import make_engine

            self._engine = make_engine(self.database_url)
        return self._engine

    def log_report(self, max_chars: int = 6000) -> str:
        parts = [
            f"--- {p.log_path.name} (pid {p.popen.pid if p.popen else '-'}) ---\n"
            f"{p.log_tail(max_chars)}"
            for p in self.processes
        ]
        return "\n".join(parts) or "(no processes started)"


def attach_logs_on_failure(item: pytest.Item, report: pytest.TestReport) -> None:
    """Add the logs of every stack (or anything with `log_report()`) a failed test used."""
    if report.when != "call" or not report.failed:
        return
    funcargs = getattr(item, "funcargs", {})
    seen: set[int] = set()
    for name, value in funcargs.items():
        log_report = getattr(value, "log_report", None)
        if callable(log_report) and id(value) not in seen:
            seen.add(id(value))
            report.sections.append((f"process logs: {name}", str(log_report())))
