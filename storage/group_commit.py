"""Group commit: the concurrent writes of one process share one transaction and one COMMIT.

Why: an IdP's initial import sends thousands of small writes at once, and each paid for
its own pool check-out (and, on PostgreSQL, its ping), BEGIN, COMMIT (a WAL flush) and,
on SQLite, its own turn at the single writer lock. Run together, N writes pay for one.

How (leader and followers, no thread of its own): a caller adds its work to the open
batch. When no batch is being committed it leads: it takes the open batch (at most
`max_writes` works), runs each work in a SAVEPOINT of one unit of work, COMMITs, runs the
batch's after-commit callbacks and wakes the others. Otherwise it waits; works that
arrive meanwhile form the next batch, so the busier the process, the larger the batches,
and a write that arrives alone commits at once (nothing waits for company).

What a caller can count on is what `unit_of_work` promises, per work:
- `run` returns only once the COMMIT holding its work succeeded, and after the
  callbacks its work registered with `after_commit` ran (so a request is answered
  after its change is durable and the workers were told);
- a work that raises is rolled back to its savepoint and forgotten (rows and
  callbacks), the others in its batch still commit; `run` raises its error;
- when the transaction itself fails (the connection dropped, COMMIT refused), every
  work of the batch that had not failed on its own raises that failure: nothing of it
  was committed, and an IdP that hears 503 sends it again;
- works run in the order they arrived, each seeing the ones before it (as if one
  transaction followed the other), in a copy of its caller's context (context
  variables such as the request's origin are the caller's, not the leader's).
"""

from __future__ import annotations

import contextvars
import copy
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

import structlog
from psycopg.pq import TransactionStatus
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from storage.db import is_sqlite, own_after_commit, unit_of_work

log = structlog.get_logger(__name__)

T = TypeVar("T")
Callback = Callable[[], object]


@dataclass(eq=False)
class _Work(Generic[T]):
    fn: Callable[[Connection], T]
    context: contextvars.Context
    result: T | None = None
    error: BaseException | None = None
    shared_error: bool = False  # the batch's failure, raised by every work of it
    callbacks: list[Callback] = field(default_factory=list)
    taken: bool = False  # in a batch being committed
    done: bool = False  # committed or failed, callbacks run: the caller may go


class TransactionLost(OperationalError):
    """The database ended a batch's transaction under it: nothing of the batch is kept.
    An OperationalError, so the API answers it as any database fault (503, retry)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, None, Exception(message))


def _connection_lost(exc: BaseException) -> bool:
    """A failure of the transaction itself, not of one work: the batch cannot go on."""
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def _transaction_lost(conn: Connection) -> bool:
    """Whether the database ended the batch's transaction under a failing work: SQLite
    rolls it back by itself on some errors (disk full, I/O). The works after it would run
    outside it, each committed alone by its RELEASE, and then be answered the batch's
    failure; such an error fails the whole batch instead."""
    driver = conn.connection.driver_connection
    if is_sqlite(conn):
        return not driver.in_transaction  # type: ignore[union-attr]
    # After a ROLLBACK TO SAVEPOINT PostgreSQL is in the transaction again; anything else
    # (aborted, or ended) would make the COMMIT a silent ROLLBACK.
    return bool(driver.info.transaction_status != TransactionStatus.INTRANS)  # type: ignore[union-attr]


def _own_copy(error: BaseException) -> BaseException:
    """The batch's one failure is raised by every caller in its own thread: each gets its
    own copy, so that one request's traceback never shows another's frames."""
    try:
        return copy.copy(error)
    except Exception:  # an exception that cannot be copied is raised as it is
        return error


class GroupCommitter:
    """Runs `fn(conn)` works of concurrent callers in shared transactions (module docstring).

    `around_callbacks` wraps the running of one batch's after-commit callbacks: the API
    gathers the batch's "tenant has events" kicks there into one Redis round trip.
    `on_batch(size)` is told each batch's size (a metric); it must not raise.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        max_writes: int = 32,
        around_callbacks: Callable[[], AbstractContextManager[object]] | None = None,
        on_batch: Callable[[int], object] | None = None,
    ) -> None:
        if max_writes < 1:
            raise ValueError("max_writes must be at least 1")
        self.engine = engine
        self.max_writes = max_writes
        self._around_callbacks = around_callbacks or nullcontext
        self._on_batch = on_batch
        self._cond = threading.Condition()
        self._queue: list[_Work[Any]] = []
        self._leading = False
        self.batches = 0  # committed or failed batches, for tests and metrics
        self.largest_batch = 0

    @property
    def leading(self) -> bool:
        """A batch is being committed now."""
        with self._cond:
            return self._leading

    def queued(self) -> int:
        """Works waiting for a batch (not yet taken by a leader)."""
        with self._cond:
            return len(self._queue)

    def run(self, fn: Callable[[Connection], T]) -> T:
        """`fn(conn)` in a shared transaction; its result once committed (module docstring)."""
        work: _Work[T] = _Work(fn, contextvars.copy_context())
        with self._cond:
            self._queue.append(work)
            while not work.done:
                if work.taken or self._leading:
                    self._cond.wait()
                    continue
                batch = self._queue[: self.max_writes]
                del self._queue[: self.max_writes]
                for taken in batch:
                    taken.taken = True
                self._leading = True
                self._cond.release()
                try:
                    self._lead(batch)
                finally:
                    self._cond.acquire()
                    for finished in batch:
                        finished.done = True
                    self._cond.notify_all()
        if work.error is not None:
            if work.shared_error:
                raise _own_copy(work.error) from work.error
            raise work.error
        return cast(T, work.result)

    def _lead(self, batch: list[_Work[Any]]) -> None:
        try:
            committed = self._commit(batch)
        finally:
            # The next batch may start while this one's callbacks talk to the broker.
            with self._cond:
                self._leading = False
                self.batches += 1
                self.largest_batch = max(self.largest_batch, len(batch))
                self._cond.notify_all()
        if committed:
            self._run_callbacks(batch)
        if self._on_batch is not None:
            try:
                self._on_batch(len(batch))
            except Exception:  # a figure must never fail a committed batch
                log.warning("group_commit_metric_failed", exc_info=True)

    def _commit(self, batch: list[_Work[Any]]) -> bool:
        """Run the batch's works in one transaction; False when the transaction failed."""
        # A work alone needs no savepoint: its failure rolls back the whole transaction.
        alone = len(batch) == 1
        try:
            with unit_of_work(self.engine) as conn:
                for work in batch:
                    self._run_one(conn, work, savepoint=not alone)
                if _transaction_lost(conn):  # never answer "committed" for a COMMIT that wasn't
                    raise TransactionLost("the batch's transaction ended before its COMMIT")
        except BaseException as exc:
            for work in batch:
                if work.error is None:
                    work.error, work.shared_error = exc, True
                work.callbacks.clear()
            if not isinstance(exc, Exception):
                raise
            return False
        return True

    @staticmethod
    def _run_one(conn: Connection, work: _Work[Any], *, savepoint: bool) -> None:
        if not savepoint:
            with own_after_commit(conn) as callbacks:
                work.result = work.context.run(work.fn, conn)
            work.callbacks = callbacks
            return
        try:
            with conn.begin_nested(), own_after_commit(conn) as callbacks:
                work.result = work.context.run(work.fn, conn)
        except Exception as exc:
            if _connection_lost(exc) or _transaction_lost(conn):
                raise
            work.error = exc
            return
        work.callbacks = callbacks

    def _run_callbacks(self, batch: list[_Work[Any]]) -> None:
        with self._around_callbacks():
            for work in batch:
                for callback in work.callbacks:
                    work.context.run(callback)
