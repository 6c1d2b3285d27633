"""CPU time per stage of a request, counted the same way whatever else the machine runs.

`StageClock` charges each thread's CPU time (`time.thread_time`, the kernel's per-thread
clock) to the innermost stage running on that thread, so a nested stage (an SQL
statement inside authentication) is not counted twice. Waiting (for PostgreSQL, Redis,
a lock) costs no CPU time here: the figures are this process's own work, which is what
a load elsewhere on the machine does not change much, unlike wall-clock time.

`instrument(...)` wraps the functions that mark the stages of one SCIM write, for the
length of a `with` block, and counts SQL statements, commits and Redis round trips.
Only the benchmark does this; nothing in the service knows about it.
"""

from __future__ import annotations

import functools
import inspect
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from sqlalchemy import Engine, event


class StageClock:
    def __init__(self) -> None:
        self.cpu: Counter[str] = Counter()  # stage -> CPU seconds, exclusive of inner stages
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._local = threading.local()
        self.active = False  # wrappers that outlive `instrument` (the publisher) check it

    def _stack(self) -> list[list[Any]]:
        stack: list[list[Any]] | None = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        return stack

    def enter(self, stage: str) -> None:
        now = time.thread_time()
        stack = self._stack()
        if stack:
            self._charge(stack[-1], now)
        stack.append([stage, now])
        with self._lock:
            self.calls[stage] += 1

    def leave(self) -> None:
        now = time.thread_time()
        stack = self._stack()
        if not stack:
            return
        self._charge(stack.pop(), now)
        if stack:
            stack[-1][1] = now

    def _charge(self, frame: list[Any], now: float) -> None:
        with self._lock:
            self.cpu[frame[0]] += now - frame[1]
        frame[1] = now

    def current(self) -> str | None:
        stack = self._stack()
        return stack[-1][0] if stack else None

    def reset(self) -> None:
        with self._lock:
            self.cpu.clear()
            self.calls.clear()


def timed(clock: StageClock, stage: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """`func`, charging its CPU time to `stage` while the clock is active."""
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            if not clock.active:
                return await func(*args, **kwargs)
            clock.enter(stage)
            try:
                return await func(*args, **kwargs)
            finally:
                clock.leave()

        return run_async

    @functools.wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        if not clock.active:
            return func(*args, **kwargs)
        clock.enter(stage)
        try:
            return func(*args, **kwargs)
        finally:
            clock.leave()

    return run


@contextmanager
def patched(owner: Any, name: str, replacement: Any) -> Iterator[None]:
    original = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
    setattr(owner, name, replacement)
    try:
        yield
    finally:
        setattr(owner, name, original)


class RoundTrips:
    """What one request asks of PostgreSQL/SQLite and of Redis."""

    def __init__(self) -> None:
        self.sql: Counter[str] = Counter()  # statement kind -> count
        self.redis = 0

    def reset(self) -> None:
        self.sql.clear()
        self.redis = 0


def _statement_kind(statement: str) -> str:
    """`INSERT mirror_users`, `SELECT tenants`, `BEGIN`: the verb and the first table."""
    words = [w.strip('"') for w in statement.split()]
    upper = [w.upper() for w in words]
    verb = upper[0] if upper else "?"
    table = None
    if verb in ("INSERT", "DELETE") and len(words) > 2:
        table = words[2]
    elif verb == "UPDATE" and len(words) > 1:
        table = words[1]
    elif verb == "SELECT" and "FROM" in upper:
        table = words[upper.index("FROM") + 1]
    return f"{verb} {table}" if table else verb


# (module path, attribute, stage): functions looked up at call time, so patching the
# module attribute is enough (no route captured them at import).
STAGES: tuple[tuple[str, str, str], ...] = (
    ("uvicorn.protocols.http.httptools_impl:HttpToolsProtocol", "data_received", "http parse"),
    ("uvicorn.protocols.http.httptools_impl:RequestResponseCycle", "send", "http write"),
    ("starlette.requests:Request", "body", "body read"),
    ("events.body", "_check", "body checks"),
    ("storage.tenants", "authenticate", "auth"),
    ("events.rate_limit:RateLimiter", "enforce", "rate limit"),
    ("events.ingest.service:IngestSession", "write", "write logic"),
    ("events.ingest.writes", "parse_user", "validation"),
    ("events.ingest.writes", "parse_group", "validation"),
    ("events.scim.patch.document", "patch_group", "patch apply"),
    ("storage.audit", "record_writes", "audit"),
    ("events.scim_api.routes", "_render", "render"),
    ("events.scim_api.routes", "_members", "members read"),
    ("starlette.responses:JSONResponse", "render", "serialise"),
    ("events.request_context:RequestContext", "_observe", "metrics"),
)


def _resolve(spec: str) -> Any:
    import importlib

    module_name, _, class_name = spec.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, class_name) if class_name else module


@contextmanager
def instrument(clock: StageClock, counts: RoundTrips, engine: Engine) -> Iterator[None]:
    """Mark the stages on `engine` while the block runs (the caller wraps the runtime's
    publisher with `timed`: the runtime is built once)."""
    import redis.connection

    with ExitStack() as stack:
        for spec, name, stage in STAGES:
            owner = _resolve(spec)
            if not hasattr(owner, name):  # a stage this version of the code does not have
                continue
            original = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
            stack.enter_context(patched(owner, name, timed(clock, stage, original)))
        dialect = engine.dialect
        do_commit = timed(clock, "commit", dialect.do_commit)

        def counted_commit(dbapi_connection: Any) -> None:
            counts.sql["COMMIT"] += 1
            do_commit(dbapi_connection)

        stack.enter_context(patched(dialect, "do_commit", counted_commit))
        do_ping = timed(clock, "pool pre-ping", dialect.do_ping)

        def counted_ping(dbapi_connection: Any) -> bool:
            counts.sql["PING (pool pre-ping)"] += 1
            return bool(do_ping(dbapi_connection))

        stack.enter_context(patched(dialect, "do_ping", counted_ping))

        def before(*_: Any) -> None:
            outer = clock.current() or "request"
            clock.enter(f"sql ({outer})")

        def after(*_: Any) -> None:
            clock.leave()

        def cursor(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            counts.sql[_statement_kind(statement)] += 1

        def begin(conn: Any) -> None:
            # psycopg sends BEGIN itself before the first statement (not in autocommit);
            # SQLite's BEGIN IMMEDIATE is a statement of ours, counted as one.
            autocommit = conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT"
            if engine.dialect.name == "postgresql" and not autocommit:
                counts.sql["BEGIN"] += 1

        listeners = (
            ("before_execute", before),
            ("after_execute", after),
            ("before_cursor_execute", cursor),
            ("begin", begin),
        )
        for name, listener in listeners:
            event.listen(engine, name, listener)
            stack.callback(event.remove, engine, name, listener)

        connection_class = redis.connection.AbstractConnection
        send = connection_class.send_packed_command

        def counted_send(self: Any, command: Any, check_health: bool = True) -> Any:
            counts.redis += 1
            return send(self, command, check_health)

        stack.enter_context(patched(connection_class, "send_packed_command", counted_send))
        clock.active = True
        stack.callback(setattr, clock, "active", False)
        yield
