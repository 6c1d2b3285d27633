"""Engines and the unit of work.

One transaction per unit of work, committed by the caller: repositories take a
Connection and never commit.
"""

from __future__ import annotations

import fcntl
import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from functools import lru_cache
from typing import IO, Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.pool import QueuePool


def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
    # Python's sqlite3 opens transactions lazily; we issue BEGIN ourselves so
    # that writers can ask for BEGIN IMMEDIATE (one writer at a time).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def is_sqlite(engine_or_conn: Engine | Connection) -> bool:
    return engine_or_conn.dialect.name == "sqlite"


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        # A small pool of connections (each set up once: WAL, busy timeout) shared by the
        # threads of one process; engines are created lazily, after any fork.
        kwargs.setdefault("pool_size", 8)
        kwargs.setdefault("max_overflow", 8)
        engine = create_engine(
            url, connect_args={"check_same_thread": False}, poolclass=QueuePool, **kwargs
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        _SQLITE_WRITERS[engine] = _SqliteWriterGate(engine.url.database)

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
            conn.exec_driver_sql(f"BEGIN {mode}")

        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


class _SqliteWriterGate:
    """Writers of one SQLite file queue here before BEGIN IMMEDIATE.

    SQLite has one writer at a time, and a writer that finds the database locked
    sleeps in its busy handler (naps of up to 100 ms) instead of waking when the lock
    is free: under load most of a write's latency was that sleep. Here threads queue
    on a lock and processes (API, workers) on an flock of a file beside the database;
    both wake the moment the holder lets go, so the busy handler is rarely met.
    """

    def __init__(self, database: str | None) -> None:
        self._threads = threading.RLock()
        self._path = f"{database}.writer-lock" if database and database != ":memory:" else None
        self._file: tuple[int, IO[bytes]] | None = None  # (pid, file): reopened after fork
        self._depth = 0

    def _lock_file(self) -> IO[bytes] | None:
        if self._path is None:
            return None
        if self._file is None or self._file[0] != os.getpid():
            self._file = (os.getpid(), open(self._path, "ab"))  # noqa: SIM115 (kept open)
        return self._file[1]

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._threads:
            lock_file = self._lock_file() if self._depth == 0 else None
            if lock_file is not None:
                fcntl.flock(lock_file, fcntl.LOCK_EX)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if lock_file is not None:
                    fcntl.flock(lock_file, fcntl.LOCK_UN)


_SQLITE_WRITERS: weakref.WeakKeyDictionary[Engine, _SqliteWriterGate] = weakref.WeakKeyDictionary()


@lru_cache(maxsize=4)
def engine_for(url: str) -> Engine:
    return make_engine(url)


def get_engine() -> Engine:
    from worker.settings import get_settings

    return engine_for(get_settings().resolved_database_url)


@contextmanager
def unit_of_work(engine: Engine | None = None, *, write: bool = True) -> Iterator[Connection]:
    """A transaction: commits when the block ends, rolls back when it raises.

    `write=True` takes SQLite's write lock up front (BEGIN IMMEDIATE) so that
    concurrent writers queue instead of failing on a lock upgrade.
    """
    engine = engine or get_engine()
    options = {"sqlite_begin": "IMMEDIATE"} if write and is_sqlite(engine) else {}
    with ExitStack() as held:
        gate = _SQLITE_WRITERS.get(engine) if write else None
        if gate is not None:
            held.enter_context(gate.held())
        conn = held.enter_context(engine.connect().execution_options(**options))
        held.enter_context(conn.begin())
        yield conn


@contextmanager
def single_read(engine: Engine | None = None) -> Iterator[Connection]:
    """A connection for one read statement: autocommit on PostgreSQL, where BEGIN and
    COMMIT would be two more round trips for nothing (one statement is one snapshot)."""
    engine = engine or get_engine()
    if is_sqlite(engine):
        with unit_of_work(engine, write=False) as conn:
            yield conn
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        yield conn
