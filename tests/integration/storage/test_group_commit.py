"""Group commit on the real database: shared transactions that keep each write's promises."""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

import pytest
from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.exc import IntegrityError

from storage.clock import utcnow
from storage.db import after_commit, is_sqlite, unit_of_work
from storage.group_commit import GroupCommitter
from storage.schema import tenants

REQUEST = contextvars.ContextVar[str]("REQUEST", default="none")


def _insert(conn: Connection, tenant_id: str) -> None:
    conn.execute(
        tenants.insert().values(
            id=tenant_id, name=tenant_id, idp="generic", options={}, created_at=utcnow()
        )
    )


def _visible(engine: Engine) -> set[str]:
    """The tenants another connection sees: committed rows only."""
    with engine.connect() as conn:
        return set(conn.execute(select(tenants.c.id)).scalars())


def _wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


@contextmanager
def _writers_held(engine: Engine) -> Iterator[None]:
    """Hold the database's write lock (SQLite) or the tenants table (PostgreSQL) from
    another transaction: a leader's batch waits on it while other works queue."""
    with unit_of_work(engine) as conn:
        if not is_sqlite(engine):
            conn.execute(text("LOCK TABLE tenants IN SHARE ROW EXCLUSIVE MODE"))
        yield


def _queue_behind_a_blocked_leader(
    committer: GroupCommitter, engine: Engine, works: list[Callable[[Connection], object]]
) -> list[Future[object]]:
    """Run `works` so that the first leads a batch alone while the others queue behind it:
    the others then share the next transaction."""
    pool = ThreadPoolExecutor(len(works))
    with _writers_held(engine):
        futures = [pool.submit(committer.run, works[0])]
        _wait_until(lambda: committer.leading)  # the first leads, waiting on the held lock
        futures += [pool.submit(committer.run, work) for work in works[1:]]
        _wait_until(lambda: committer.queued() == len(works) - 1)
    pool.shutdown(wait=True)
    return futures


def test_concurrent_writes_share_one_commit_and_each_is_kept(engine: Engine) -> None:
    committer = GroupCommitter(engine, max_writes=32)
    ids = [f"t-{n}" for n in range(9)]
    works = [lambda conn, tid=tid: _insert(conn, tid) for tid in ids]

    futures = _queue_behind_a_blocked_leader(committer, engine, works)

    assert [f.result() for f in futures] == [None] * 9
    assert _visible(engine) == set(ids)
    assert (committer.batches, committer.largest_batch) == (2, 8)


def test_a_batch_never_grows_past_its_limit(engine: Engine) -> None:
    committer = GroupCommitter(engine, max_writes=3)
    ids = [f"t-{n}" for n in range(8)]
    works = [lambda conn, tid=tid: _insert(conn, tid) for tid in ids]

    futures = _queue_behind_a_blocked_leader(committer, engine, works)

    assert all(f.exception() is None for f in futures)
    assert _visible(engine) == set(ids)
    assert committer.largest_batch == 3 and committer.batches == 4  # 1 + 3 + 3 + 1


def test_a_failing_write_is_rolled_back_alone(engine: Engine) -> None:
    committer = GroupCommitter(engine)
    told: list[str] = []

    def good(tenant_id: str) -> Callable[[Connection], str]:
        def work(conn: Connection) -> str:
            _insert(conn, tenant_id)
            after_commit(conn, lambda: told.append(tenant_id))
            return tenant_id

        return work

    def clashes(conn: Connection) -> None:
        _insert(conn, "t-partial")  # written, then undone with the rest of this work
        after_commit(conn, lambda: told.append("t-partial"))
        _insert(conn, "t-1")  # the primary key of an earlier work of the same batch

    def refuses(conn: Connection) -> None:
        _insert(conn, "t-refused")
        after_commit(conn, lambda: told.append("t-refused"))
        raise ValueError("a rule refused it")

    futures = _queue_behind_a_blocked_leader(
        committer, engine, [good("t-0"), good("t-1"), clashes, refuses, good("t-2")]
    )

    assert [futures[i].result() for i in (0, 1, 4)] == ["t-0", "t-1", "t-2"]
    assert isinstance(futures[2].exception(), IntegrityError)
    assert isinstance(futures[3].exception(), ValueError)
    assert _visible(engine) == {"t-0", "t-1", "t-2"}
    assert sorted(told) == ["t-0", "t-1", "t-2"]  # no callback of a rolled-back work


def test_run_returns_once_committed_and_its_callbacks_ran(engine: Engine) -> None:
    committer = GroupCommitter(engine)
    seen: list[set[str]] = []

    def work(conn: Connection) -> None:
        _insert(conn, "t-durable")
        after_commit(conn, lambda: seen.append(_visible(engine)))

    committer.run(work)

    assert seen == [{"t-durable"}]  # the callback ran after COMMIT, before run returned


def test_a_later_work_sees_the_writes_of_earlier_ones_in_its_batch(engine: Engine) -> None:
    committer = GroupCommitter(engine)

    def count(conn: Connection) -> int:
        _insert(conn, f"t-{time.monotonic_ns()}")
        return len(conn.execute(select(tenants.c.id)).all())

    futures = _queue_behind_a_blocked_leader(committer, engine, [count, count, count])

    assert [f.result() for f in futures] == [1, 2, 3]


def test_each_work_runs_in_its_callers_context(engine: Engine) -> None:
    """The leader runs others' works: each still sees its own request's context
    variables (the audit's request origin is one)."""
    committer = GroupCommitter(engine)

    def request_of_the_work(conn: Connection) -> str:
        _insert(conn, f"t-{REQUEST.get()}")  # waits, like the others, for the held writers
        return REQUEST.get()

    pool = ThreadPoolExecutor(4)

    def caller(name: str) -> str:
        REQUEST.set(name)
        return committer.run(request_of_the_work)

    with _writers_held(engine):
        first = pool.submit(caller, "first")
        _wait_until(lambda: committer.leading)
        others = [pool.submit(caller, name) for name in ("a", "b", "c")]
        _wait_until(lambda: committer.queued() == 3)
    assert [f.result() for f in [first, *others]] == ["first", "a", "b", "c"]
    assert committer.largest_batch == 3


def test_a_lost_connection_fails_every_write_of_its_batch(engine: Engine) -> None:
    if is_sqlite(engine):
        pytest.skip("a SQLite connection cannot be cut from the server side")
    committer = GroupCommitter(engine)

    def cut(conn: Connection) -> None:
        _insert(conn, "t-cut")
        conn.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))

    works = [
        lambda conn: _insert(conn, "t-alone"),
        lambda conn: _insert(conn, "t-before"),
        cut,
        lambda conn: _insert(conn, "t-after"),
    ]
    futures = _queue_behind_a_blocked_leader(committer, engine, works)

    assert futures[0].exception() is None
    assert all(f.exception() is not None for f in futures[1:])
    assert _visible(engine) == {"t-alone"}  # nothing of the cut batch was committed
    committer.run(lambda conn: _insert(conn, "t-next"))  # the pool recovers
    assert _visible(engine) == {"t-alone", "t-next"}


def test_a_write_alone_that_fails_leaves_nothing(engine: Engine) -> None:
    committer = GroupCommitter(engine)
    told: list[str] = []

    def refuses(conn: Connection) -> None:
        _insert(conn, "t-refused")
        after_commit(conn, lambda: told.append("t-refused"))
        raise ValueError("a rule refused it")

    with pytest.raises(ValueError, match="refused"):
        committer.run(refuses)

    assert _visible(engine) == set() and told == []
    committer.run(lambda conn: _insert(conn, "t-next"))
    assert _visible(engine) == {"t-next"}


def test_a_failure_that_ends_the_whole_transaction_fails_the_whole_batch(engine: Engine) -> None:
    """SQLite rolls the transaction back by itself on some errors (disk full, I/O): the
    works after it must not run outside it, committed one by one and answered an error."""
    committer = GroupCommitter(engine)

    def ends_the_transaction(conn: Connection) -> None:
        _insert(conn, "t-2")
        conn.exec_driver_sql("ROLLBACK")  # what SQLite does itself on SQLITE_FULL or IOERR
        raise OSError("disk full")

    works = [
        lambda conn: _insert(conn, "t-alone"),
        lambda conn: _insert(conn, "t-1"),
        ends_the_transaction,
        lambda conn: _insert(conn, "t-3"),
    ]
    futures = _queue_behind_a_blocked_leader(committer, engine, works)

    assert futures[0].exception() is None
    assert all(f.exception() is not None for f in futures[1:])
    assert _visible(engine) == {"t-alone"}  # no work of that batch was committed
