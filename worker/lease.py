"""The per-tenant run lease of a full reconcile: a Redis lock with a short TTL, renewed by
a heartbeat thread for as long as the run is alive, and checked before every write.

A long run never dies of its own lock (the heartbeat renews it however long the run
takes); a run whose process stops renewing (killed, stuck, partitioned from Redis) loses
the lease after one TTL, and another run may start. The fencing check before each write
batch (`check`) stops the old run from writing once that has happened, so two runs never
interleave their writes.
"""

from __future__ import annotations

import contextlib
import threading
from types import TracebackType

import structlog
from redis import Redis
from redis.exceptions import LockError, RedisError
from redis.lock import Lock

from reconciler.errors import Transient

log = structlog.get_logger(__name__)


class LeaseLost(Transient):
    """The run no longer holds its tenant's lease: it stops before writing again."""


class Lease:
    def __init__(self, client: Redis, name: str, ttl: float, beat: float | None = None):
        self.name = name
        self.ttl = ttl
        self.beat = beat if beat is not None else ttl / 3
        # thread_local=False: the heartbeat thread renews with the token the run acquired.
        self._lock: Lock = client.lock(name, timeout=ttl, blocking=False, thread_local=False)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost: str | None = None

    def acquire(self) -> bool:
        if not self._lock.acquire():
            return False
        self._thread = threading.Thread(target=self._heartbeat, name=f"lease {self.name}")
        self._thread.daemon = True
        self._thread.start()
        return True

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.beat):
            try:
                self._lock.reacquire()  # back to a full TTL, only if still ours
            except LockError as exc:
                self.lost = f"the lease {self.name} expired and was lost ({exc})"
                log.warning("reconcile_lease_lost", lease=self.name)
                return
            except RedisError as exc:  # a blip: try again next beat, within the TTL
                log.warning("reconcile_lease_renewal_failed", lease=self.name, error=str(exc))

    def check(self) -> None:
        """The fencing check: raise unless the lease is still this run's."""
        if self.lost is None and not self._lock.owned():
            self.lost = f"the lease {self.name} is no longer held by this run"
        if self.lost is not None:
            raise LeaseLost(self.lost)

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with contextlib.suppress(LockError, RedisError):  # expired or taken over
            self._lock.release()

    def __enter__(self) -> Lease:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
