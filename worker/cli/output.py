"""How every `scimsync` command prints: JSON with `--json`, else lines and tables for people."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, is_dataclass
from datetime import datetime
from typing import Any

import click


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    return str(value)


def emit(data: Any, as_json: bool, human: Callable[[Any], str] | None = None) -> None:
    if as_json or human is None:
        click.echo(json.dumps(data, default=_default, indent=None if as_json else 2))
    else:
        click.echo(human(data))


json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")

Column = tuple[str, str]  # (key in the row, header people read)


def cell(value: Any) -> str:
    """A value as a table shows it: "-" for nothing, yes/no, times to the second with offset."""
    if value is None or value == "" or value == []:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".")
    if isinstance(value, list | tuple):
        return ", ".join(cell(v) for v in value)
    return str(value)


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column]) -> str:
    """Rows under readable headers, each column as wide as its widest cell; "(none)" when
    there are no rows."""
    if not rows:
        return "(none)"
    cells = [[cell(row.get(key)) for key, _ in columns] for row in rows]
    headers = [header for _, header in columns]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()

    return "\n".join([line(headers), *(line(c) for c in cells)])


def fields(pairs: Sequence[tuple[str, Any]]) -> str:
    """A record as "label: value" lines, labels aligned."""
    width = max(len(label) for label, _ in pairs)
    return "\n".join(f"{label + ':':<{width + 1}} {cell(value)}" for label, value in pairs)
