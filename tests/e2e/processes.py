"""Real child processes for end-to-end and fault tests, never left behind.

Every process starts in its own process group (so a signal reaches its children
too, such as Celery's pool), writes stdout and stderr to a log file, and is
registered until it is reaped: an `atexit` hook kills whatever a crashed test
left running. Processes started for one test run carry a marker in their
environment, so a test can prove that nothing it started survives.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import psutil

MARKER_VARIABLE = "SCIMSYNC_TEST_MARKER"
_live: set[ManagedProcess] = set()


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(
    predicate: Callable[[], bool], timeout: float, interval: float = 0.2, message: str = "condition"
) -> None:
    """Poll `predicate` until it holds; fail the test with `message` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return
        except Exception:  # the thing polled is allowed to be down while we wait
            pass
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{message} not reached within {timeout:.0f} s")
        time.sleep(interval)


class ManagedProcess:
    """One command in its own process group, logging to `log_path`."""

    def __init__(
        self, name: str, argv: Sequence[str], *, env: dict[str, str], cwd: Path, log_path: Path
    ):
        self.name = name
        self.argv = list(argv)
        self.env = env
        self.cwd = cwd
        self.log_path = log_path
        self.popen: subprocess.Popen[bytes] | None = None
        self._finished = False  # leader reaped and no member of its group left

    def start(self) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"\n=== start {self.name}: {' '.join(self.argv)}\n".encode())
            log.flush()
            self.popen = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _live.add(self)
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None, f"{self.name} was never started"
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def group_members(self) -> list[psutil.Process]:
        """Every live process of this group (the leader, Celery's pool children, ...)."""
        found = []
        for proc in psutil.process_iter(["pid"]):
            with contextlib.suppress(psutil.Error, OSError):  # gone between listing and asking
                if os.getpgid(proc.pid) == self.pid and proc.status() != psutil.STATUS_ZOMBIE:
                    found.append(proc)
        return found

    def signal_group(self, signum: int) -> None:
        """Signal the group, unless it is gone: once its leader is reaped and no member is
        left, the id may belong to someone else's new process group."""
        if self.popen is None or self._finished:
            return
        if self.popen.poll() is not None and not self.group_members():
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signum)

    def kill(self) -> None:
        """SIGKILL the whole group at once: a crash, no chance to clean up."""
        self.signal_group(signal.SIGKILL)
        self._reap(timeout=10)

    def stop(self, grace: float = 10.0) -> int | None:
        """SIGTERM the group, SIGKILL what is still there after `grace` seconds."""
        if self.popen is None or self._finished:
            return None if self.popen is None else self.popen.returncode
        if self.popen.poll() is None:
            self.signal_group(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=grace)
        self.signal_group(signal.SIGKILL)  # stragglers whose leader already left
        return self._reap(timeout=10)

    def _reap(self, timeout: float) -> int | None:
        assert self.popen is not None
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=timeout)
        self._finished = self.popen.returncode is not None and not self.group_members()
        if self._finished:
            _live.discard(self)
        return self.popen.returncode

    def log_tail(self, max_chars: int = 6000) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return text if len(text) <= max_chars else "...\n" + text[-max_chars:]


def processes_with_marker(marker: str, path: str | None = None) -> list[psutil.Process]:
    """Live processes whose environment carries this test run's marker, or whose command
    line names `path`. The second is for redis-server: it rewrites its process title over
    its environment, so the marker cannot be read back from it."""
    found = []
    for proc in psutil.process_iter(["pid"]):
        if proc.pid == os.getpid():
            continue
        with contextlib.suppress(psutil.Error, OSError):  # gone between listing and asking
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            if proc.environ().get(MARKER_VARIABLE) == marker or (
                path is not None and path in " ".join(proc.cmdline())
            ):
                found.append(proc)
    return found


def kill_marked(marker: str, path: str | None = None) -> list[str]:
    """SIGKILL every process `processes_with_marker` finds; returns them, for the report."""
    found = processes_with_marker(marker, path)
    described = []
    for proc in found:
        with contextlib.suppress(psutil.Error, OSError):  # gone between listing and asking
            described.append(f"{proc.pid} {' '.join(proc.cmdline())[:200]}")
            proc.kill()
    psutil.wait_procs(found, timeout=5)
    return described


@atexit.register
def _kill_leftovers() -> None:
    for process in list(_live):
        process.signal_group(signal.SIGKILL)
