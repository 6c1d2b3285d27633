"""The Drift page's chart: drift items per run over time, as inline SVG bars (no script, no
chart library: the page stays one server-rendered document)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

WIDTH, HEIGHT, GAP = 600, 120, 2


@dataclass(frozen=True)
class Bar:
    run_id: int
    x: float
    y: float
    width: float
    height: float
    drift: int
    label: str
    bad: bool


def drift_chart(runs: list[dict[str, Any]]) -> list[Bar]:
    """One bar per run, oldest on the left, height by its drift items (halted/failed: red)."""
    ordered = list(reversed(runs))  # runs come newest first
    if not ordered:
        return []
    top = max(max(r["drift"] for r in ordered), 1)
    width = WIDTH / len(ordered)
    bars = []
    for n, run in enumerate(ordered):
        height = max(HEIGHT * run["drift"] / top, 1.0)
        started = run["started_at"]
        when = started.strftime("%Y-%m-%d %H:%M") if started else "-"
        mode = "dry run" if run["dry_run"] else "run"
        bars.append(
            Bar(
                run_id=run["id"],
                x=n * width,
                y=HEIGHT - height,
                width=max(width - GAP, 1.0),
                height=height,
                drift=run["drift"],
                label=f"#{run['id']} {when} {mode}: {run['drift']} items, {run['outcome']}",
                bad=run["outcome"] in ("halted", "failed"),
            )
        )
    return bars
