"""The SQLite writer gate: one queue per database file, across threads and processes,
bounded like SQLite's busy timeout, and usable again in a forked child."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from storage.db import make_engine, unit_of_work
from storage.sqlite_gate import gate_for


def test_engines_on_one_file_share_one_gate(tmp_path: Path) -> None:
    database = tmp_path / "a.db"
    assert gate_for(str(database)) is gate_for(str(tmp_path / "." / "a.db"))
    assert gate_for(str(database)) is not gate_for(str(tmp_path / "b.db"))
    assert gate_for(":memory:") is None


def _child(
    work: Callable[[], int], *, parent_ends: tuple[int, ...], child_ends: tuple[int, ...]
) -> int:
    """Fork; each side closes the other's pipe ends, so that one side closing its end (or
    dying) is an end of file on the other, never a wait. The child runs `work` and exits
    with its code, whatever happens."""
    pid = os.fork()
    if pid == 0:
        code = 3
        try:
            for end in parent_ends:
                os.close(end)
            code = work()
        finally:
            os._exit(code)
    for end in child_ends:
        os.close(end)
    return pid


def _exit_code(pid: int) -> int:
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_a_writer_in_another_process_holds_the_gate_until_it_lets_go(tmp_path: Path) -> None:
    """Ordered by pipes, not by time: the parent is kept out exactly while the child holds
    the gate, and gets in as soon as the child leaves it, while the child still lives (so
    it is the release that lets it in, not the child's exit)."""
    gate = gate_for(str(tmp_path / "p.db"))
    assert gate is not None
    held, release, done = os.pipe(), os.pipe(), os.pipe()

    def child() -> int:
        with gate.held():
            os.write(held[1], b"x")
            os.read(release[0], 1)
        os.read(done[0], 1)  # until the parent got in (or gave up: end of file)
        return 0

    pid = _child(
        child, parent_ends=(held[0], release[1], done[1]), child_ends=(held[1], release[0], done[0])
    )
    try:
        assert os.read(held[0], 1) == b"x", "the child never held the gate"
        with pytest.raises(OperationalError, match="database is locked"), gate.held(timeout=0):
            pass
        os.write(release[1], b"x")
        with gate.held(timeout=10):
            pass
    finally:
        for end in (held[0], release[1], done[1]):
            os.close(end)  # the child's read of `done` ends here
        code = _exit_code(pid)
    assert code == 0


def test_waiting_longer_than_the_busy_timeout_fails_as_a_locked_database(tmp_path: Path) -> None:
    gate = gate_for(str(tmp_path / "t.db"))
    assert gate is not None
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with gate.held():
            holding.set()
            release.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait(5)
    try:
        with pytest.raises(OperationalError, match="database is locked"), gate.held(timeout=0.2):
            pass
    finally:
        release.set()
        holder.join(5)


def test_a_forked_child_can_write_while_a_parent_thread_holds_the_gate(tmp_path: Path) -> None:
    """The parent's thread holds the gate when the child is forked: the child sees the
    file lock and waits for it, but the thread's lock does not exist there, so the child
    gets in once the parent lets go."""
    engine = make_engine(f"sqlite:///{tmp_path / 'f.db'}")
    with unit_of_work(engine) as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    gate = gate_for(str(tmp_path / "f.db"))
    assert gate is not None
    holding, release = threading.Event(), threading.Event()
    saw_it_held, may_go = os.pipe(), os.pipe()

    def hold() -> None:
        with gate.held():
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(5)

    def child() -> int:
        try:
            with gate.held(timeout=0):
                return 1  # the parent's file lock should have kept the child out
        except OperationalError:
            os.write(saw_it_held[1], b"x")
        os.read(may_go[0], 1)
        with gate.held(timeout=10):
            return 0

    pid = _child(
        child, parent_ends=(saw_it_held[0], may_go[1]), child_ends=(saw_it_held[1], may_go[0])
    )
    try:
        assert os.read(saw_it_held[0], 1) == b"x", "the child got in while the parent held"
    finally:
        release.set()
        holder.join(5)
        for end in (saw_it_held[0], may_go[1]):
            os.close(end)  # the child's read of `may_go` ends here: the parent let go
        code = _exit_code(pid)
    assert code == 0


def test_a_process_writing_batch_after_batch_lets_a_waiting_writer_in_between(
    tmp_path: Path,
) -> None:
    """A worker draining a backlog lets go and asks again at once; a writer already
    waiting in another process (an API's commit) gets in at the next hand-over, not after
    the whole drain."""
    gate = gate_for(str(tmp_path / "w.db"))
    assert gate is not None
    started, stop = os.pipe(), os.pipe()

    def drain_batches() -> int:
        os.set_blocking(stop[0], False)
        first = True
        while True:
            with gate.held():
                if first:
                    os.write(started[1], b"x")
                    first = False
                time.sleep(0.02)  # one batch's transaction
            try:
                if os.read(stop[0], 1) == b"":
                    return 0
            except BlockingIOError:
                continue

    pid = _child(drain_batches, parent_ends=(started[0], stop[1]), child_ends=(started[1], stop[0]))
    waits = []
    try:
        assert os.read(started[0], 1) == b"x"
        for _ in range(5):
            asked = time.monotonic()
            with gate.held(timeout=10):
                waits.append(time.monotonic() - asked)
            time.sleep(0.01)
    finally:
        for end in (started[0], stop[1]):
            os.close(end)
        code = _exit_code(pid)
    assert code == 0
    assert max(waits) < 0.2, waits  # one batch (20 ms) and a nap, not the drain
