"""Writers of one SQLite file queue at a gate before BEGIN IMMEDIATE.

SQLite has one writer at a time, and a writer that finds the database locked
sleeps in its busy handler (naps of up to 100 ms) instead of waking when the lock
is free: under load most of a write's latency was that sleep. At the gate,
threads queue on a lock and processes (API, workers) on an flock of a file
beside the database, and both hand over within a couple of milliseconds.

Processes take turns: a writer passes a turnstile (a second file lock) on its way to
the writer lock and holds it while it waits there. A process that has just let go and
wants to write again (a worker draining a backlog batch after batch) must pass the
turnstile too, so it waits behind a writer already waiting instead of taking the lock
back within microseconds while the other naps: without it, an API's commit waited out a
worker's whole drain.

There is one gate per database file, however many engines point at it (two
engines of one process must not lock each other out), it is rebuilt in a forked
child (a lock held by another thread of the parent would never be released
there), and waiting at it is bounded like SQLite's own busy timeout.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import OperationalError

BUSY_TIMEOUT_SECONDS = 30.0  # the same as PRAGMA busy_timeout (storage/db.py)
_LONGEST_NAP = 0.002


def _locked() -> OperationalError:
    """What SQLite itself raises when its busy timeout runs out: a transient error."""
    return OperationalError("BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked"))


class WriterGate:
    def __init__(self, lock_path: str) -> None:
        self.lock_path = lock_path
        self._reset()

    def _reset(self) -> None:
        self._threads = threading.RLock()
        self._fd: int | None = None
        self._turnstile_fd: int | None = None
        self._depth = 0  # a thread re-entering holds the file lock already

    def _after_fork(self) -> None:
        for fd in (self._fd, self._turnstile_fd):
            if fd is not None:
                os.close(fd)  # the parent's locks stay the parent's
        self._reset()

    @contextmanager
    def held(self, timeout: float = BUSY_TIMEOUT_SECONDS) -> Iterator[None]:
        deadline = time.monotonic() + timeout
        if not self._threads.acquire(timeout=timeout):
            raise _locked()
        try:
            if self._depth == 0:
                self._lock_file(deadline)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._fd is not None:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def _lock_file(self, deadline: float) -> None:
        if self._fd is None:
            self._fd = os.open(self.lock_path, os.O_RDONLY | os.O_CREAT, 0o644)
        if self._turnstile_fd is None:
            self._turnstile_fd = os.open(
                f"{self.lock_path}{TURNSTILE_SUFFIX}", os.O_RDONLY | os.O_CREAT, 0o644
            )
        _flock_before(self._turnstile_fd, deadline)
        try:
            _flock_before(self._fd, deadline)
        finally:
            fcntl.flock(self._turnstile_fd, fcntl.LOCK_UN)


def _flock_before(fd: int, deadline: float) -> None:
    """An exclusive flock of `fd`, polled (a blocking flock could not honour the deadline)."""
    nap = 0.0002
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise _locked() from None
            time.sleep(nap)
            nap = min(nap * 2, _LONGEST_NAP)


LOCK_SUFFIX = ".writer-lock"  # beside the database file, so a missing var dir shows here
TURNSTILE_SUFFIX = ".turnstile"

_GATES: dict[str, WriterGate] = {}
_GATES_LOCK = threading.Lock()


def gate_for(database: str | None) -> WriterGate | None:
    """The gate of a SQLite database file; None for an in-memory or URI-named database."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    path = os.path.realpath(database)
    with _GATES_LOCK:
        if path not in _GATES:
            _GATES[path] = WriterGate(f"{path}{LOCK_SUFFIX}")
        return _GATES[path]


def _after_fork_in_child() -> None:
    global _GATES_LOCK
    _GATES_LOCK = threading.Lock()
    for gate in _GATES.values():
        gate._after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
