"""`scimsync dlq|status` commands."""

from __future__ import annotations

from typing import Any

import click

from worker.cli.output import emit, table
from worker.operations import (
    list_dead_letters,
    pipeline_status,
    purge_dead_letters,
    replay_dead_letters,
)


def _json_option(f: Any) -> Any:
    return click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")(f)


def register(main: click.Group) -> None:

    @main.group()
    def dlq() -> None:
        """Dead letters: events that failed for good."""

    @dlq.command("list")
    @click.option("--tenant", default=None)
    @click.option("--limit", default=100, show_default=True)
    @_json_option
    def dlq_list(tenant: str | None, limit: int, as_json: bool) -> None:
        """List dead-lettered events with their reason."""

        rows = list_dead_letters(tenant, limit)
        emit(
            rows,
            as_json,
            lambda r: table(
                r,
                [
                    ("id", "ID"),
                    ("tenant_id", "TENANT"),
                    ("resource_type", "TYPE"),
                    ("resource_id", "RESOURCE"),
                    ("error_code", "CODE"),
                    ("attempts", "ATTEMPTS"),
                    ("reason", "REASON"),
                ],
            ),
        )

    @dlq.command("replay")
    @click.argument("ids", nargs=-1, type=int)
    @_json_option
    def dlq_replay(ids: tuple[int, ...], as_json: bool) -> None:
        """Put dead letters (all, or the given ids) back in the pipeline."""

        if as_json:
            result = replay_dead_letters(list(ids) or None, strict=True)
        else:
            with click.progressbar(length=1, label="replaying") as bar:
                result = replay_dead_letters(list(ids) or None, strict=True)
                bar.update(1)
        emit(
            result,
            as_json,
            lambda d: f"replayed {d['replayed']} event(s) for {len(d['tenants'])} tenant(s)",
        )

    @dlq.command("purge")
    @click.argument("ids", nargs=-1, type=int)
    @click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
    @_json_option
    def dlq_purge(ids: tuple[int, ...], yes: bool, as_json: bool) -> None:
        """Delete dead letters (all, or the given ids) for good."""

        if not yes and not as_json and not ids:
            click.confirm("Delete ALL dead letters?", abort=True)
        emit(
            {"purged": purge_dead_letters(list(ids) or None, strict=True)},
            as_json,
            lambda d: f"purged {d['purged']} dead letter(s)",
        )

    @main.command()
    @_json_option
    def status(as_json: bool) -> None:
        """Per tenant: queue depth, oldest unapplied age, lag, failures, dead letters."""

        rows = pipeline_status()
        emit(
            rows,
            as_json,
            lambda r: table(
                r,
                [
                    ("name", "NAME"),
                    ("tenant_id", "TENANT"),
                    ("queue_depth", "QUEUE"),
                    ("oldest_unapplied_age_seconds", "OLDEST (s)"),
                    ("lag_p50_seconds", "LAG P50 (s)"),
                    ("lag_p99_seconds", "LAG P99 (s)"),
                    ("failures_recent", "FAILURES (5 min)"),
                    ("dead_letters", "DEAD LETTERS"),
                    ("last_reconcile", "LAST RECONCILE"),
                ],
            ),
        )
