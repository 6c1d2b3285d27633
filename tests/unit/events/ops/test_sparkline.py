"""The dashboard's trend lines and durations: pure functions, many inputs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from events.ops.formats import age
from events.ops.sparkline import HEIGHT, WIDTH, WINDOW, line

END = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def test_durations_under_a_second_read_in_milliseconds() -> None:
    assert [age(v) for v in (0.0, 0.02, 0.9994, 1.5, 12, 60, 75, 3600)] == [
        "0 ms",
        "20 ms",
        "999 ms",
        "1.5 s",
        "12 s",
        "1 min",
        "1 min 15 s",
        "1 h 0 min",
    ]
    assert age(None) == "none" and age(None, "no data") == "no data"


def test_no_samples_is_no_data_not_a_flat_line() -> None:
    empty = line("queue_depth", "Queue depth", [], end=END, shown=str)
    assert (empty.points, empty.last, empty.samples) == ("", "no data", 0)
    old = line("queue_depth", "Queue", [(END - 2 * WINDOW, 5.0)], end=END, shown=str)
    assert old.samples == 0  # older than the window: not drawn


@given(
    st.lists(
        st.tuples(st.integers(0, 3600), st.floats(0, 1e6, allow_nan=False)),
        min_size=1,
        max_size=80,
    )
)
def test_every_point_lies_in_the_box_and_time_runs_left_to_right(
    raw: list[tuple[int, float]],
) -> None:
    points = sorted((END - timedelta(seconds=ago), value) for ago, value in raw)
    drawn = line("lag_p99_seconds", "Lag", points, end=END, shown=age)
    xy = [tuple(map(float, p.split(","))) for p in drawn.points.split()]
    assert len(xy) == drawn.samples == len(points)
    assert all(0 <= x <= WIDTH and 0 <= y <= HEIGHT for x, y in xy)
    assert [x for x, _ in xy] == sorted(x for x, _ in xy)
    peak = max(v for _, v in points)
    if peak > 0:  # the highest value touches the top
        assert min(y for _, y in xy) == 0.0
    assert (drawn.end_x, drawn.end_y) == xy[-1]
