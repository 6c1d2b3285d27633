"""Validate a source's next batches on a thread while the current one is written.

A first import spends about as long in Python validating resources (scim2-models) as
it waits on PostgreSQL writing them; on two cores the two can overlap. The thread reads
and validates at most `DEPTH` batches ahead (bounded memory), hands them over in order,
and passes on whatever the source raised, at the point the import reaches it.

While it runs, the interpreter switches threads every 0.5 ms instead of 5 ms: a write
coming back from the database otherwise waits up to 5 ms for the validating thread to
let go of the GIL, once per statement (measured, 100,000-user import on PostgreSQL:
105 s without the thread, 103 s with it at 5 ms, 92 s at 0.5 ms). On SQLite, which
writes inside this process, the thread lost time (78 s -> 83 s): it is used on PostgreSQL.
"""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")
DEPTH = 2
SWITCH_SECONDS = 0.0005
STOP_WAIT_SECONDS = 1.0  # a helper stuck in a slow read is left to finish it alone
_END = object()
# The switch interval is the process's: two imports at once (threads, a threaded Celery
# pool) share one setting, saved by the first to start and given back by the last to end.
_switches = threading.Lock()
_running = 0
_saved = 0.005


@contextmanager
def _short_switches() -> Iterator[None]:
    global _running, _saved
    with _switches:
        if _running == 0:
            _saved = sys.getswitchinterval()
            sys.setswitchinterval(min(_saved, SWITCH_SECONDS))
        _running += 1
    try:
        yield
    finally:
        with _switches:
            _running -= 1
            if _running == 0:
                sys.setswitchinterval(_saved)


def prepared_ahead(
    batches: Iterator[list[T]], prepare: Callable[[T], None]
) -> Generator[list[T], None, None]:
    """`batches` in order, `prepare` already called on each item, by a helper thread that
    owns `batches` from here on (it closes them when it stops: a file, an HTTP client)."""
    handed: queue.Queue[Any] = queue.Queue(maxsize=DEPTH)
    stop = threading.Event()

    def hand(item: Any) -> bool:
        while not stop.is_set():
            try:
                handed.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for batch in batches:
                for item in batch:
                    prepare(item)
                if not hand(batch):
                    return
        except BaseException as exc:  # handed over, raised where the import reads it
            hand((_END, exc))
            return
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()
        hand((_END, None))

    helper = threading.Thread(target=work, name="validate-ahead", daemon=True)
    with _short_switches():
        helper.start()
        try:
            while True:
                item = handed.get()
                if isinstance(item, tuple) and item and item[0] is _END:
                    if item[1] is not None:
                        raise item[1]
                    return
                yield item
        finally:
            stop.set()
            # not forever: a helper in the middle of a slow read (a SCIM page with its
            # retries) must not hold up a run that already failed or was interrupted
            helper.join(STOP_WAIT_SECONDS)
