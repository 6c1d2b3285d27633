"""The dashboard's trend charts: a figure over the last hour as an inline SVG polyline
(no script, no chart library: the page stays one server-rendered document).

Pure: samples in (storage/pipeline_samples.py), coordinates and labels out. Time runs
left to right over the whole window, so a gap in the samples (no beat running) shows
as a gap in time rather than being squeezed away.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from events.ops.formats import age

WIDTH, HEIGHT = 240.0, 40.0
WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class Sparkline:
    figure: str  # the sample's field, e.g. "lag_p99_seconds"
    label: str
    points: str  # "x,y x,y ..." for <polyline points=...>; "" when there is no data
    last: str  # the newest value, as the page writes it
    peak: str  # the highest value in the window
    samples: int
    end_x: float = 0.0  # the newest point, drawn as a dot (one sample is no line yet)
    end_y: float = HEIGHT


def _count(value: float) -> str:
    return f"{value:,.0f}"


# (the sample's field, label, how a value is written)
TRENDS: tuple[tuple[str, str, Callable[[float], str]], ...] = (
    ("lag_p50_seconds", "Lag p50", age),
    ("lag_p99_seconds", "Lag p99", age),
    ("queue_depth", "Queue depth", _count),
    ("applied", "Applied per minute", _count),
)


def line(
    figure: str,
    label: str,
    points: Sequence[tuple[datetime, float]],
    *,
    end: datetime,
    shown: Callable[[float], str],
    window: timedelta = WINDOW,
) -> Sparkline:
    start = end - window
    inside = [(at, value) for at, value in points if start <= at <= end]
    if not inside:
        return Sparkline(figure, label, "", "no data", "no data", 0)
    peak = max(value for _, value in inside)
    span, top = window.total_seconds(), peak or 1.0
    xy = [
        (
            round(WIDTH * (at - start).total_seconds() / span, 1),
            round(HEIGHT - HEIGHT * value / top, 1),
        )
        for at, value in inside
    ]
    coords = " ".join(f"{x},{y}" for x, y in xy)
    last = shown(inside[-1][1])
    return Sparkline(figure, label, coords, last, shown(peak), len(inside), *xy[-1])


def trends(samples: Sequence[Any], *, end: datetime, interval_seconds: float) -> list[Sparkline]:
    """The tenant's trend lines from its samples (oldest first); applied is per minute."""
    out = []
    for figure, label, shown in TRENDS:
        per_minute = 60.0 / interval_seconds if figure == "applied" else 1.0
        points = [
            (s.at, float(getattr(s, figure)) * per_minute)
            for s in samples
            if getattr(s, figure) is not None
        ]
        out.append(line(figure, label, points, end=end, shown=shown))
    return out
