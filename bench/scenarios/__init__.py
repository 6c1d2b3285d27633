"""The scenarios of issue 9, in the order `make bench` runs them.

A scenario is `run(ctx) -> list[Row]`: it starts its own stack (database,
Redis, processes), measures our figure and its anchor, and stops everything.
Anchors that do not depend on our backend (scim2-server) are measured once per
run and shared through `ctx.shared`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.report import Row, Target
from bench.sizes import Sizes


@dataclass
class ScenarioContext:
    name: str
    backend: str
    sizes: Sizes
    root: Path
    quick: bool
    progress: Callable[[str], None] = lambda _: None
    shared: dict[str, Any] = field(default_factory=dict)

    def row(
        self,
        figure: str,
        unit: str,
        ours: float | None,
        *,
        anchor: float | None = None,
        anchor_label: str = "",
        target: Target | None = None,
        note: str = "",
    ) -> Row:
        return Row(self.backend, self.name, figure, unit, ours, anchor, anchor_label, target, note)

    def once(self, key: str, measure: Callable[[], Any]) -> Any:
        """A backend-independent anchor: measured by the first backend, reused by the next."""
        if key not in self.shared:
            self.shared[key] = measure()
        return self.shared[key]


Scenario = Callable[[ScenarioContext], list[Row]]


def registry() -> dict[str, Scenario]:
    from bench.scenarios import (
        apply,
        big_group,
        file_source,
        ingest,
        initial_import,
        lag,
        lookup,
        reconcile,
        scim_source,
        trace,
    )

    return {
        "ingest": ingest.run,
        "lookup": lookup.run,
        "apply": apply.run,
        "lag": lag.run,
        "reconcile": reconcile.run,
        "big_group": big_group.run,
        "initial_import": initial_import.run,
        "file_source": file_source.run,
        "scim_source": scim_source.run,
        "trace": trace.run,
    }


NAMES = (
    "ingest",
    "lookup",
    "apply",
    "lag",
    "reconcile",
    "big_group",
    "initial_import",
    "file_source",
    "scim_source",
    "trace",
)
