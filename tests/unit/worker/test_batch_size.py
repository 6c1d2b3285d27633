"""How a drain sizes its batches: short write transactions on SQLite, where the API's
commits wait for the single writer lock."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from worker.pipeline import MIN_BATCH, next_batch_size


def test_a_slow_batch_makes_the_next_one_smaller() -> None:
    # 500 events took 0.25 s: 100 fit in 0.05 s.
    assert next_batch_size(500, claimed=500, seconds=0.25, batch_size=500, write_slice=0.05) == 100


def test_a_fast_batch_grows_back_to_the_configured_size() -> None:
    assert next_batch_size(100, claimed=100, seconds=0.001, batch_size=500, write_slice=0.05) == 500


def test_no_slice_or_an_empty_batch_keeps_the_size() -> None:
    assert next_batch_size(300, claimed=500, seconds=9.0, batch_size=500, write_slice=0) == 300
    assert next_batch_size(300, claimed=0, seconds=0.1, batch_size=500, write_slice=0.05) == 300


@given(
    claimed=st.integers(1, 10_000),
    seconds=st.floats(1e-6, 100),
    batch_size=st.integers(1, 5_000),
    write_slice=st.floats(0.001, 1),
)
def test_the_size_stays_within_its_bounds(
    claimed: int, seconds: float, batch_size: int, write_slice: float
) -> None:
    size = next_batch_size(
        batch_size, claimed=claimed, seconds=seconds, batch_size=batch_size, write_slice=write_slice
    )
    assert min(MIN_BATCH, batch_size) <= size <= batch_size
    if size > MIN_BATCH:  # the predicted transaction fits the slice
        assert size * seconds / claimed <= write_slice * 1.0001
