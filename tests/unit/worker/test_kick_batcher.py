"""Requests that commit while a kick is on its way to Redis share the next round trip,
and each is answered only once the round trip carrying its kick is done."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping

import pytest
from sqlalchemy import create_engine

from worker.publish import BatchedPublisher, KickBatcher


class SlowRedis:
    """Records each round trip; the first one waits until the test lets it go."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.round_trips: list[dict[str, int]] = []
        self.release_first = threading.Event()
        self.first_started = threading.Event()
        self.fail_on = fail_on

    def send(self, received: Mapping[str, int]) -> None:
        self.round_trips.append(dict(received))
        if len(self.round_trips) == 1:
            self.first_started.set()
            assert self.release_first.wait(5)
        if self.fail_on == len(self.round_trips):
            raise ConnectionError("redis went away")


def _in_threads(batcher: KickBatcher, kicks: list[tuple[str, int]]) -> list[threading.Thread]:
    threads = [threading.Thread(target=batcher.kick, args=kick) for kick in kicks]
    for thread in threads:
        thread.start()
    return threads


def test_a_lone_kick_is_sent_at_once() -> None:
    redis = SlowRedis()
    redis.release_first.set()
    KickBatcher(redis.send).kick("t1", 1)
    assert redis.round_trips == [{"t1": 1}]


def test_kicks_arriving_while_one_is_on_its_way_share_the_next_round_trip() -> None:
    redis = SlowRedis()
    batcher = KickBatcher(redis.send)
    first = _in_threads(batcher, [("t1", 1)])
    assert redis.first_started.wait(5)
    waiting = _in_threads(batcher, [("t1", 2), ("t2", 1), ("t1", 3), ("t3", 1)])
    time.sleep(0.1)  # they are all queued behind the first round trip
    assert all(t.is_alive() for t in waiting), "answered before their kick was sent"
    redis.release_first.set()
    for thread in first + waiting:
        thread.join(5)
    assert redis.round_trips == [{"t1": 1}, {"t1": 5, "t2": 1, "t3": 1}]


def test_a_failed_round_trip_fails_only_the_kicks_it_carried() -> None:
    redis = SlowRedis(fail_on=2)
    batcher = KickBatcher(redis.send)
    outcomes: dict[str, str] = {}

    def kick(tenant_id: str) -> None:
        try:
            batcher.kick(tenant_id, 1)
            outcomes[tenant_id] = "sent"
        except ConnectionError:
            outcomes[tenant_id] = "failed"

    first = threading.Thread(target=kick, args=("t1",))
    first.start()
    assert redis.first_started.wait(5)
    second = threading.Thread(target=kick, args=("t2",))
    second.start()
    time.sleep(0.05)
    redis.release_first.set()
    first.join(5)
    second.join(5)
    assert outcomes == {"t1": "sent", "t2": "failed"}
    batcher.kick("t3", 1)  # the batcher is usable again
    assert redis.round_trips[-1] == {"t3": 1}


def test_an_error_reaches_the_caller() -> None:
    def broken(_: Mapping[str, int]) -> None:
        raise ConnectionError("down")

    with pytest.raises(ConnectionError):
        KickBatcher(broken).kick("t1", 1)


def test_a_group_commits_publishes_share_one_round_trip() -> None:
    """The writes of one shared transaction tell the workers in one round trip, each
    tenant once with all its events counted."""
    redis = SlowRedis()
    redis.release_first.set()
    publisher = BatchedPublisher(create_engine("sqlite://"))
    publisher.batcher = KickBatcher(redis.send)

    with publisher.gathering():
        assert publisher("t1", [1, 2]) and publisher("t2", [3]) and publisher("t1", [4])
        assert redis.round_trips == []  # nothing sent before the batch's callbacks end

    assert redis.round_trips == [{"t1": 3, "t2": 1}]
    publisher("t3", [5])  # outside a group commit: sent at once
    assert redis.round_trips[-1] == {"t3": 1}
