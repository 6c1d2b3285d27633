"""What the IdP did and what it was told: a Jepsen-style history of SCIM writes.

Each HTTP attempt is one `Op` with the registers it writes and its outcome:
- `ok`: a 2xx. The service acknowledged the write: its effect must survive.
- `fail`: a 4xx, or the connection was refused before anything was sent. The
  service changed nothing (docs/architecture.md §6), so the op writes nothing.
- `info`: a 5xx or a broken exchange. The write may or may not have happened.

A register is one observable fact, named by logical ids (the workload's
externalIds, not the service's ids): ("user", u, "exists" | "active" | "name"),
("group", g, "exists" | "name") and ("member", g, u).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

Register = tuple[str, ...]


class Outcome(StrEnum):
    OK = "ok"
    FAIL = "fail"
    INFO = "info"


@dataclass
class Op:
    index: int
    thread: str
    description: str
    writes: dict[Register, Any]
    invoked: float
    completed: float = 0.0
    outcome: Outcome = Outcome.INFO
    status: int | None = None
    server_answered: bool = False  # a response came back: the server was done with it

    def __str__(self) -> str:
        return f"#{self.index} {self.thread} {self.description} -> {self.outcome} {self.status}"


def outcome_of(status: int) -> Outcome:
    if 200 <= status < 300:
        return Outcome.OK
    return Outcome.FAIL if 400 <= status < 500 else Outcome.INFO


@dataclass
class History:
    ops: list[Op] = field(default_factory=list)
    # logical id -> the service's id, learnt from responses and lookups
    scim_ids: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def invoke(self, thread: str, description: str, writes: dict[Register, Any]) -> Op:
        with self._lock:
            op = Op(len(self.ops), thread, description, writes, time.monotonic())
            self.ops.append(op)
            return op

    @staticmethod
    def answered(op: Op, status: int) -> None:
        op.completed = time.monotonic()
        op.status = status
        op.outcome = outcome_of(status)
        op.server_answered = True

    @staticmethod
    def broken(op: Op, *, sent: bool) -> None:
        """No response: if the request never left (connection refused) it did nothing."""
        op.completed = time.monotonic()
        op.outcome = Outcome.INFO if sent else Outcome.FAIL

    def learn_id(self, logical_id: str, scim_id: str) -> None:
        with self._lock:
            self.scim_ids[logical_id] = scim_id

    def writes_by_register(self) -> dict[Register, list[Op]]:
        found: dict[Register, list[Op]] = {}
        for op in self.ops:
            if op.outcome is not Outcome.FAIL:
                for register in op.writes:
                    found.setdefault(register, []).append(op)
        return found

    def count(self, outcome: Outcome) -> int:
        return sum(1 for op in self.ops if op.writes and op.outcome is outcome)

    def summary(self) -> dict[str, int]:
        latencies = sorted(op.completed - op.invoked for op in self.ops if op.server_answered)
        p99 = latencies[int(0.99 * (len(latencies) - 1))] if latencies else 0.0
        seconds = (self.ops[-1].completed - self.ops[0].invoked) if self.ops else 0.0
        return {
            **{str(o): self.count(o) for o in Outcome},
            "seconds": round(seconds),
            "latency_p99_ms": round(p99 * 1000),
        }

    def __iter__(self) -> Iterator[Op]:
        return iter(self.ops)


INITIAL: dict[str, Any] = {"exists": False, "member": False}


def initial_value(register: Register) -> Any:
    return INITIAL.get(register[-1] if register[0] != "member" else "member")


def possible_final_values(register: Register, ops: list[Op]) -> set[Any]:
    """The values the register may hold once everything settled (linearizability).

    The last write in any valid order is one that no acknowledged write follows
    in real time (invoked after it completed). An `info` write may have taken
    effect at any point after it was invoked; one whose response came back
    (a 5xx) took effect, if at all, before that response. With no acknowledged
    write the register may also still hold its initial value.
    """
    acked = [op for op in ops if op.outcome is Outcome.OK]
    candidates: set[Any] = set()
    for op in ops:
        can_still_take_effect = op.outcome is Outcome.INFO and not op.server_answered
        followed = any(other.invoked > op.completed for other in acked)
        if can_still_take_effect or not followed:
            candidates.add(_hashable(op.writes[register]))
    if not acked:
        candidates.add(initial_value(register))
    return candidates


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value
