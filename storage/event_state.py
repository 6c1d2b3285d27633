"""The states of a change event (`change_events.state`); the values are what is stored."""

from __future__ import annotations

from enum import StrEnum


class EventState(StrEnum):
    PENDING = "pending"  # to apply: new, retried, or replayed from the dead letters
    APPLIED = "applied"  # its resource was reconciled at or past its version
    DEAD = "dead"  # refused for good; its dead_letters row says why
