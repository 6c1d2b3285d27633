"""The SQLite writer gate: one queue per database file, across threads and processes,
bounded like SQLite's busy timeout, and usable again in a forked child."""

from __future__ import annotations

import os
import threading
import time
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


def test_a_writer_in_another_process_holds_the_gate_until_it_lets_go(tmp_path: Path) -> None:
    gate = gate_for(str(tmp_path / "p.db"))
    assert gate is not None
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # the child takes the gate, says so, holds it 0.3 s
        with gate.held():
            os.write(write_end, b"x")
            time.sleep(0.3)
        os._exit(0)
    os.read(read_end, 1)
    started = time.monotonic()
    with gate.held():
        waited = time.monotonic() - started
    os.waitpid(child, 0)
    assert 0.2 < waited < 0.5  # queued behind the child, and let in as soon as it was done


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
    engine = make_engine(f"sqlite:///{tmp_path / 'f.db'}")
    with unit_of_work(engine) as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    gate = gate_for(str(tmp_path / "f.db"))
    assert gate is not None
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with gate.held():
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait(5)
    child = os.fork()
    if child == 0:  # the parent's thread does not exist here: its lock must not either
        try:
            with gate.held(timeout=5):
                os._exit(0)
        except OperationalError:
            os._exit(1)
    release_after = threading.Timer(1.0, release.set)  # the parent lets go within a second
    release_after.start()
    _, status = os.waitpid(child, 0)
    holder.join(5)
    assert os.waitstatus_to_exitcode(status) == 0
