"""Ids are UUIDv7: valid UUIDs an IdP can store, unique, and ordered by when they were
minted, so the indexes keyed by them grow at one edge (reconciler/ids.py)."""

from __future__ import annotations

import time
import uuid

import pytest

from reconciler import ids
from reconciler.ids import new_id


def test_an_id_is_a_canonical_version_7_uuid() -> None:
    minted = new_id()
    parsed = uuid.UUID(minted)
    assert str(parsed) == minted  # lower-case, hyphenated: what SCIM clients compare
    assert parsed.version == 7 and parsed.variant == uuid.RFC_4122


def test_ids_carry_their_millisecond_and_sort_by_it(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter(range(1_796_000_000_000, 1_796_000_000_000 + 50))
    monkeypatch.setattr(ids.time, "time_ns", lambda: next(clock) * 1_000_000)
    minted = [new_id() for _ in range(50)]
    assert minted == sorted(minted)
    assert int(minted[0].replace("-", "")[:12], 16) == 1_796_000_000_000


def test_ids_minted_in_the_same_millisecond_are_still_unique(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ids.time, "time_ns", lambda: 1_796_000_000_000_000_000)
    minted = {new_id() for _ in range(100_000)}
    assert len(minted) == 100_000
    assert len({m[:13] for m in minted}) == 1  # one millisecond, 74 random bits apart


def test_real_ids_never_go_backwards_across_milliseconds() -> None:
    first = new_id()
    time.sleep(0.002)
    assert new_id()[:13] > first[:13]
