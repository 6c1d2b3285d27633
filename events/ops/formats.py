"""How the dashboard writes durations and times: milliseconds under a second, so a 20 ms
lag reads "20 ms", not "0.0 s"."""

from __future__ import annotations

from datetime import datetime


def age(seconds: float | None, empty: str = "none") -> str:
    if seconds is None:
        return empty
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    whole = int(seconds)
    if whole < 60:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    if whole < 3600:
        return f"{whole // 60} min" + (f" {whole % 60} s" if whole % 60 else "")
    return f"{whole // 3600} h {whole % 3600 // 60} min"


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "-"
