"""Results as rows (figure, ours, anchor, ratio, target, met?), as Markdown and as JSON.

Pure formatting: the scenarios measure, this module only compares and prints.
A row whose figure could not be measured keeps its place with `ours=None` and
a note saying why, so a missing feature is visible instead of silently absent.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"
UNITS = {
    "/s": "{:,.0f} /s",
    "ms": "{:,.1f} ms",
    "s": "{:,.2f} s",
    "MB": "{:,.0f} MB",
    "": "{:,.2f}",
}
TIMES = "\u00d7"  # the multiplication sign, as in "2.5 times"


@dataclass(frozen=True)
class Target:
    """What a figure must reach: bounds on our value and/or on the ratio ours / anchor."""

    text: str
    min_value: float | None = None
    max_value: float | None = None
    min_ratio: float | None = None
    max_ratio: float | None = None

    def met(self, ours: float | None, ratio: float | None) -> bool | None:
        checks: list[bool] = []
        for bound, value, fits in (
            (self.min_value, ours, lambda v, b: v >= b),
            (self.max_value, ours, lambda v, b: v <= b),
            (self.min_ratio, ratio, lambda v, b: v >= b),
            (self.max_ratio, ratio, lambda v, b: v <= b),
        ):
            if bound is None:
                continue
            if value is None:
                return None  # not measured: neither met nor missed
            checks.append(fits(value, bound))
        return all(checks) if checks else None


@dataclass
class Row:
    backend: str
    scenario: str
    figure: str
    unit: str
    ours: float | None
    anchor: float | None = None
    anchor_label: str = ""
    target: Target | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.ours is None or not self.anchor:
            return None
        return self.ours / self.anchor

    @property
    def met(self) -> bool | None:
        return self.target.met(self.ours, self.ratio) if self.target else None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["target"] = self.target.text if self.target else None
        data |= {"ratio": self.ratio, "met": self.met}
        return data


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    mode: str = "full"
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    machine: dict[str, Any] = field(default_factory=lambda: machine())

    def missed(self) -> list[Row]:
        return [row for row in self.rows if row.met is False]


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory_gb: float | None = round(pages / 2**30, 1)
    except (OSError, ValueError):
        memory_gb = None
    return {
        "nproc": os.cpu_count(),
        "memory_gb": memory_gb,
        "cpu": cpu,
        "python": platform.python_version(),
        "system": platform.platform(),
        "load_average_start": round(os.getloadavg()[0], 1),
    }


def fmt_value(value: float | None, unit: str) -> str:
    if value is None:
        return "not available"
    return UNITS.get(unit, "{:,.2f} " + unit).format(value)


def fmt_ratio(ratio: float | None) -> str:
    return "—" if ratio is None else f"{ratio:,.2f}{TIMES}"


def fmt_met(met: bool | None) -> str:
    return {True: "yes", False: "**no**", None: "—"}[met]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: Sequence[Row]) -> str:
    lines = ["| figure | ours | anchor | ratio | target | met? |", "|---|---:|---:|---:|---|---|"]
    for row in rows:
        anchor = fmt_value(row.anchor, row.unit) if row.anchor is not None else "—"
        if row.anchor is not None and row.anchor_label:
            anchor = f"{anchor} ({row.anchor_label})"
        cells = [
            row.figure,
            fmt_value(row.ours, row.unit),
            anchor,
            fmt_ratio(row.ratio),
            row.target.text if row.target else "—",
            fmt_met(row.met),
        ]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines)


def to_markdown(report: Report, backend_titles: dict[str, str]) -> str:
    m = report.machine
    out = [
        f"## Benchmarks ({report.mode} run, {report.started_at:%Y-%m-%d %H:%M} UTC)",
        "",
        f"Machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory_gb']} GB RAM, "
        f"Python {m['python']}, {m['system']}.",
        "Every ratio is ours / anchor, both measured in this run on this machine.",
    ]
    if "load_average_end" in m:
        out.append(
            f"Load average (1 min) at start / end: {m['load_average_start']} / "
            f"{m['load_average_end']} (the start figure is other work on the machine)."
        )
    for backend in dict.fromkeys(row.backend for row in report.rows):
        out += [
            "",
            f"### {backend_titles.get(backend, backend)}",
            "",
            markdown_table([r for r in report.rows if r.backend == backend]),
        ]
    notes = [f"{r.backend} · {r.figure}: {r.note}" for r in report.rows if r.note]
    if notes or report.notes:
        out += ["", "Notes:", ""] + [f"- {n}" for n in [*report.notes, *notes]]
    missed = report.missed()
    out += [
        "",
        "Targets missed: "
        + ("none" if not missed else "; ".join(f"{r.backend} · {r.figure}" for r in missed)),
    ]
    return "\n".join(out) + "\n"


def to_json(report: Report) -> dict[str, Any]:
    return {
        "date": report.started_at.isoformat(),
        "mode": report.mode,
        "machine": report.machine,
        "rows": [row.as_dict() for row in report.rows],
        "notes": report.notes,
        "missed": [f"{r.backend} · {r.figure}" for r in report.missed()],
    }


def write(report: Report, backend_titles: dict[str, str], directory: Path = RESULTS_DIR) -> str:
    """Write latest.md and latest.json; returns the Markdown."""
    directory.mkdir(parents=True, exist_ok=True)
    text = to_markdown(report, backend_titles)
    (directory / "latest.md").write_text(text)
    (directory / "latest.json").write_text(json.dumps(to_json(report), indent=2) + "\n")
    return text
