"""Child processes of a benchmark: started in their own process group, always stopped.

Output goes to a log file per process (a full pipe would stall the child), and
the tail of that log is shown when a process dies or never becomes ready.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

STOP_GRACE_SECONDS = 12.0


class BenchError(RuntimeError):
    """A benchmark could not run (a process died, a server never became ready)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    stop_signal: int = signal.SIGTERM

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Signal the whole process group (Celery pool children too), KILL after the grace."""
        if self.alive():
            _signal_group(self.popen.pid, self.stop_signal)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=grace)
        # Children may outlive a leader that exited; the group id is still the leader's pid.
        _signal_group(self.popen.pid, signal.SIGKILL)
        if self.popen.poll() is None:
            self.popen.wait(timeout=5)


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


class Processes:
    """Every process a scenario started; leaving the block stops them, last started first."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.started: list[Proc] = []

    def spawn(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        cwd: Path,
        stop_signal: int = signal.SIGTERM,
    ) -> Proc:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}-{len(list(self.log_dir.glob(f'{name}-*.log')))}.log"
        with log_path.open("wb") as log:
            popen = subprocess.Popen(
                list(argv),
                env=dict(env),
                cwd=cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        proc = Proc(name, popen, log_path, stop_signal)
        self.started.append(proc)
        return proc

    def stop(self, proc: Proc) -> None:
        proc.stop()
        if proc in self.started:
            self.started.remove(proc)

    def stop_all(self) -> None:
        while self.started:
            self.stop(self.started[-1])

    def __enter__(self) -> Processes:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop_all()


def wait_until(
    ready: Callable[[], bool],
    *,
    what: str,
    timeout: float,
    watch: Sequence[Proc] = (),
    interval: float = 0.1,
) -> float:
    """Poll until `ready()`; returns the seconds it took. Fails fast when a watched process dies."""
    started = time.monotonic()
    while True:
        for proc in watch:
            if not proc.alive():
                raise BenchError(f"{proc.name} exited while waiting for {what}:\n{proc.log_tail()}")
        try:
            if ready():
                return time.monotonic() - started
        except Exception:  # not up yet: connection refused, starting database, ...
            pass
        if time.monotonic() - started > timeout:
            tails = "\n".join(f"--- {p.name}\n{p.log_tail()}" for p in watch)
            raise BenchError(f"timed out after {timeout:.0f} s waiting for {what}\n{tails}")
        time.sleep(interval)
