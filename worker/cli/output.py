"""How every `scimsync` command prints: JSON with `--json`, else a line for people."""

from __future__ import annotations

import json
from collections.abc import Callable
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


json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
