"""Engines and the unit of work.

One transaction per unit of work, committed by the caller: repositories take a
Connection and never commit. What must happen only once the work is durable
(telling the workers) is registered with `after_commit` and run by the unit of
work after its COMMIT; a rollback discards it.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.pool import QueuePool

from storage.sqlite_gate import WriterGate, gate_for


def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
    # Python's sqlite3 opens transactions lazily; we issue BEGIN ourselves so
    # that writers can ask for BEGIN IMMEDIATE (one writer at a time).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # Up to 64 MiB of pages per connection (SQLite's default is 2 MiB): a 100,000-user
    # import's index inserts re-read evicted pages otherwise; measured 118.6 s -> 104.6 s
    # (bench/ file_source, 2026-12-05), peak RSS 258 -> 342 MB. The cache grows only as
    # far as the database does, so a small tenant pays nothing.
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.close()


def is_sqlite(engine_or_conn: Engine | Connection) -> bool:
    return engine_or_conn.dialect.name == "sqlite"


def make_engine(url: str, *, statement_timeout_ms: int = 0, **kwargs: Any) -> Engine:
    """An engine for `url`. `statement_timeout_ms` (PostgreSQL; 0: none) cancels any one
    statement that runs longer, so one pathological query cannot hold a pool connection,
    its locks and a CPU for ever; migrations are made without it."""
    # A statement's parameters are people's emails and names: an error's text (logged,
    # or kept as a dead letter's reason) shows the SQL without them.
    kwargs.setdefault("hide_parameters", True)
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
        gate = gate_for(engine.url.database)
        if gate is not None:
            _SQLITE_WRITERS[engine] = gate

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
            conn.exec_driver_sql(f"BEGIN {mode}")

        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", True)
    if url.startswith("postgresql"):
        # JIT compiles a query whose estimated cost is high, and our queries are short:
        # a reconcile chunk's membership comparison spent 0.54 s compiling to run 0.35 s.
        settings = ["-c jit=off"]
        if statement_timeout_ms > 0:
            settings.append(f"-c statement_timeout={statement_timeout_ms}")
        connect_args = dict(kwargs.pop("connect_args", {}))
        connect_args["options"] = " ".join([connect_args.get("options", ""), *settings]).strip()
        kwargs["connect_args"] = connect_args
    return create_engine(url, **kwargs)


# Where an engine's writers queue (storage/sqlite_gate.py); SQLite engines only.
_SQLITE_WRITERS: weakref.WeakKeyDictionary[Engine, WriterGate] = weakref.WeakKeyDictionary()


_ENGINES: dict[tuple[str, int], Engine] = {}
_ENGINES_LOCK = threading.Lock()


def engine_for(url: str, *, statement_timeout_ms: int = 0) -> Engine:
    """One engine (one pool) per URL and timeout per process, made on first use."""
    key = (url, statement_timeout_ms)
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            engine = _ENGINES[key] = make_engine(url, statement_timeout_ms=statement_timeout_ms)
        return engine


def dispose_engines() -> None:
    """Close every pooled connection and forget the engines (tests, a reconfigured process)."""
    with _ENGINES_LOCK:
        engines = list(_ENGINES.values())
        _ENGINES.clear()
    for engine in engines:
        engine.dispose()


# Where a unit of work keeps its after-commit callbacks: `Connection.info`, which belongs
# to the pooled DBAPI connection and outlives the checkout, so the unit of work removes
# the key whatever happens.
_AFTER_COMMIT = "scimsync.after_commit"


def after_commit(conn: Connection, callback: Callable[[], object]) -> None:
    """Run `callback` once the unit of work holding `conn` has committed; never if it rolls
    back. Callbacks run in the order registered, after the connection (and SQLite's write
    lock) is released, so a slow broker never holds a database lock.

    A callback must not raise: the transaction is committed, and its caller (an IdP
    waiting for a 2xx) must hear so. Raises RuntimeError outside `unit_of_work`.
    """
    callbacks = conn.info.get(_AFTER_COMMIT)
    if callbacks is None:
        raise RuntimeError("after_commit needs a connection from unit_of_work")
    callbacks.append(callback)


@contextmanager
def own_after_commit(conn: Connection) -> Iterator[list[Callable[[], object]]]:
    """Keep the callbacks registered inside the block apart, in the list it yields, rather
    than in the unit of work's: a caller sharing one transaction among several works
    (storage/group_commit.py) runs each work's callbacks only if that work was kept."""
    outer = conn.info.get(_AFTER_COMMIT)
    if outer is None:
        raise RuntimeError("own_after_commit needs a connection from unit_of_work")
    own: list[Callable[[], object]] = []
    conn.info[_AFTER_COMMIT] = own
    try:
        yield own
    finally:
        conn.info[_AFTER_COMMIT] = outer


@contextmanager
def unit_of_work(engine: Engine, *, write: bool = True) -> Iterator[Connection]:
    """A transaction: commits when the block ends, rolls back when it raises.

    `write=True` takes SQLite's write lock up front (BEGIN IMMEDIATE) so that
    concurrent writers queue instead of failing on a lock upgrade. Callbacks given to
    `after_commit` run after a successful COMMIT, once the connection is released.
    """
    options = {"sqlite_begin": "IMMEDIATE"} if write and is_sqlite(engine) else {}
    callbacks: list[Callable[[], object]] = []
    with ExitStack() as held:
        gate = _SQLITE_WRITERS.get(engine) if write else None
        if gate is not None:
            held.enter_context(gate.held())
        conn = held.enter_context(engine.connect().execution_options(**options))
        conn.info[_AFTER_COMMIT] = callbacks
        try:
            with conn.begin():
                yield conn
        finally:
            conn.info.pop(_AFTER_COMMIT, None)
    for callback in callbacks:  # reached only when the COMMIT succeeded
        callback()


@contextmanager
def single_read(engine: Engine) -> Iterator[Connection]:
    """A connection for one read statement: autocommit on PostgreSQL, where BEGIN and
    COMMIT would be two more round trips for nothing (one statement is one snapshot)."""
    if is_sqlite(engine):
        with unit_of_work(engine, write=False) as conn:
            yield conn
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        yield conn
