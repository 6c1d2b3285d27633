"""Thousands of SCIM writes from a few threads (tests/chaos/actors.py), recorded in a history.

`Workload(tenant, config).start()` runs the user threads, one group thread and
one racer thread in the background; `join()` waits for them and returns the
history for the checker. The pace is shared: together the threads send about
`config.writes_per_second` requests, so a fault test knows how long writes flow.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Any

from tests.chaos.actors import Actor, Directory, WorkloadConfig, play_groups, play_racer, play_users
from tests.chaos.history import History
from tests.chaos.idp import IdpSession
from tests.e2e.harness import Tenant

__all__ = ["Workload", "WorkloadConfig"]


class Workload:
    def __init__(self, tenant: Tenant, config: WorkloadConfig):
        self.config = config
        self.history = History()
        self.users_done = threading.Event()
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._user_threads_left = config.user_threads
        directory = Directory()
        count = config.user_threads + 2
        pace = count / config.writes_per_second
        self.sessions = [
            IdpSession(tenant, self.history, f"t{i}", pace_seconds=pace, seed=config.seed + i)
            for i in range(count)
        ]
        actors = [
            Actor(
                session, random.Random(config.seed * 1000 + i), config, directory, self.users_done
            )
            for i, session in enumerate(self.sessions)
        ]
        plays: list[tuple[Callable[..., None], tuple[Any, ...], bool]] = [
            (play_users, (actors[i], i), True) for i in range(config.user_threads)
        ]
        plays += [(play_groups, (actors[-2],), False), (play_racer, (actors[-1],), False)]
        self.threads = [
            threading.Thread(target=self._guard, args=play, daemon=True) for play in plays
        ]

    def start(self) -> Workload:
        for thread in self.threads:
            thread.start()
        return self

    def running(self) -> bool:
        return any(thread.is_alive() for thread in self.threads)

    def join(self, timeout: float = 300) -> History:
        for thread in self.threads:
            thread.join(timeout)
        for session in self.sessions:
            session.close()
        if self.errors:
            raise self.errors[0]
        return self.history

    def _guard(self, play: Callable[..., None], args: tuple[Any, ...], user_thread: bool) -> None:
        try:
            play(*args)
        except BaseException as exc:  # surfaced by join()
            self.errors.append(exc)
            self.users_done.set()  # let the other threads finish
        finally:
            if user_thread:
                with self._lock:
                    self._user_threads_left -= 1
                    if self._user_threads_left == 0:
                        self.users_done.set()
