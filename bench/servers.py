"""Servers the bench runs next to ours: scim2-server (the anchor) and a no-op stub.

Each runs as `python -m <module> --port P ...` in its own process and prints one
JSON line when it serves; leaving the block stops it and removes its folder.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.backends import base_env
from bench.processes import Processes, free_port, wait_until


@dataclass(frozen=True)
class ReferenceServer:
    base_url: str  # http://127.0.0.1:PORT/v2
    token: str
    seed_seconds: float

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Content-Type": "application/scim+json"}


@contextmanager
def reference_server(
    root: Path, seed_users: int = 0, say: Callable[[str], None] = lambda _: None
) -> Iterator[ReferenceServer]:
    """scim2-server in its own process (bench/reference.py), stopped when the block ends."""
    say(
        f"starting scim2-server ({seed_users:,} users seeded)"
        if seed_users
        else "starting scim2-server"
    )
    token = uuid.uuid4().hex
    args = ["--token", token, "--seed-users", str(seed_users)]
    with _python_server(root, "bench.reference", args, 120 + seed_users / 50) as (port, ready):
        yield ReferenceServer(f"http://127.0.0.1:{port}/v2", token, float(ready["seed_seconds"]))


@contextmanager
def stub_server(root: Path) -> Iterator[str]:
    """bench/stub.py in its own process: a server that does nothing; yields its URL."""
    with _python_server(root, "bench.stub", [], 60) as (port, _):
        yield f"http://127.0.0.1:{port}"


@contextmanager
def _python_server(
    root: Path, module: str, args: list[str], timeout: float
) -> Iterator[tuple[int, dict[str, Any]]]:
    """`python -m module --port P ...` until it prints its JSON ready line; (port, that line)."""
    workdir = Path(tempfile.mkdtemp(prefix=f"{module}-", dir=root))
    try:
        with Processes(workdir / "logs") as procs:
            port = free_port()
            proc = procs.spawn(
                module,
                [sys.executable, "-m", module, "--port", str(port), *args],
                base_env(),
                workdir,
            )
            wait_until(
                lambda: '"ready"' in proc.log_path.read_text(),
                what=module,
                timeout=timeout,
                watch=[proc],
                interval=0.2,
            )
            lines = proc.log_path.read_text().splitlines()
            yield port, json.loads(next(line for line in lines if '"ready"' in line))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
