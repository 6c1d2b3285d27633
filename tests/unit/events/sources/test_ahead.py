"""Validation ahead of the writes (events/sources/ahead.py): the batches come in order,
each prepared, never more than DEPTH ahead; the source's error arrives where the import
reaches it; a stopped import stops the helper and gives the interpreter its switch
interval back."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator

import pytest

from events.sources import ahead
from events.sources.ahead import prepared_ahead


def helpers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "validate-ahead"]


def numbered(batches: int, size: int = 3, read: list[int] | None = None) -> Iterator[list[dict]]:
    for b in range(batches):
        if read is not None:
            read.append(b)
        yield [{"n": b * size + i} for i in range(size)]


def prepare(item: dict) -> None:
    item["prepared"] = item["n"] * 2


def test_every_batch_arrives_in_order_and_prepared() -> None:
    got = [item for batch in prepared_ahead(numbered(50), prepare) for item in batch]
    assert [i["n"] for i in got] == list(range(150))
    assert all(i["prepared"] == i["n"] * 2 for i in got)
    assert not helpers() and sys.getswitchinterval() == pytest.approx(0.005)


def test_the_helper_never_reads_more_than_depth_batches_ahead() -> None:
    read: list[int] = []
    batches = prepared_ahead(numbered(100, read=read), prepare)
    next(batches)
    time.sleep(0.3)  # a slow write: the helper fills its queue, then waits
    # the one handed over, DEPTH queued, and one read and waiting for room
    assert len(read) <= ahead.DEPTH + 2
    batches.close()
    assert not helpers()


def test_the_sources_error_is_raised_after_the_batches_before_it() -> None:
    def broken() -> Iterator[list[dict]]:
        yield [{"n": 1}]
        yield [{"n": 2}]
        raise OSError("the export vanished")

    batches = prepared_ahead(broken(), prepare)
    assert [b[0]["n"] for b in (next(batches), next(batches))] == [1, 2]
    with pytest.raises(OSError, match="vanished"):
        next(batches)
    assert not helpers()


def test_a_prepare_that_fails_is_raised_too() -> None:
    def refuses(item: dict) -> None:
        raise ValueError(f"bad {item['n']}")

    with pytest.raises(ValueError, match="bad 0"):
        list(prepared_ahead(numbered(3), refuses))
    assert not helpers()


def test_switches_are_short_only_while_the_helper_runs() -> None:
    before = sys.getswitchinterval()
    batches = prepared_ahead(numbered(10), prepare)
    next(batches)
    assert sys.getswitchinterval() == pytest.approx(ahead.SWITCH_SECONDS)
    batches.close()
    assert sys.getswitchinterval() == before


def test_the_helper_closes_the_source_when_it_stops() -> None:
    closed: list[str] = []

    def source() -> Iterator[list[dict]]:
        try:
            yield from numbered(100)
        finally:
            closed.append("closed")  # a file handle, an HTTP client

    batches = prepared_ahead(source(), prepare)
    next(batches)
    batches.close()  # the import stopped early (a lost lease, an interrupt)
    assert closed == ["closed"] and not helpers()


def test_a_helper_stuck_in_a_slow_read_does_not_hold_up_the_stop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ahead, "STOP_WAIT_SECONDS", 0.2)
    release = threading.Event()

    def slow() -> Iterator[list[dict]]:
        yield [{"n": 1}]
        release.wait(5)  # a SCIM page that takes its time
        yield [{"n": 2}]

    batches = prepared_ahead(slow(), prepare)
    next(batches)
    started = time.monotonic()
    batches.close()
    assert time.monotonic() - started < 2
    release.set()
    for helper in helpers():
        helper.join(5)
    assert not helpers()


def test_two_imports_at_once_give_the_switch_interval_back_once_both_end() -> None:
    before = sys.getswitchinterval()
    first = prepared_ahead(numbered(10), prepare)
    second = prepared_ahead(numbered(10), prepare)
    next(first)
    next(second)
    first.close()
    assert sys.getswitchinterval() == pytest.approx(ahead.SWITCH_SECONDS)  # second still runs
    second.close()
    assert sys.getswitchinterval() == before
