"""`scimsync reconcile TENANT` (a run), `reconcile show RUN`, `reconcile list TENANT`.

Errors are raised, not printed: the CLI's one error layer (worker/cli/errors.py) turns
them into one line (or JSON) and an exit code.

Exit codes of a run, for scripts (like `terraform plan -detailed-exitcode`):
0 in sync, or drift repaired / imported; 1 error or failed run; 2 usage error (a
`--source` that is not one is refused before any run is recorded); 3 a dry run found
drift; 4 halted by the safety valve (nothing applied; `--force` after checking).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from typing import Any, TextIO

import click

from reconciler.errors import InvalidValue, NotFound
from reconciler.full_run import Outcome
from worker.cli.output import emit, json_option
from worker.reconcile_jobs import REPORTED_ITEMS, AlreadyRunning, check_source, run_reconcile
from worker.reconcile_views import get_run, iter_items, list_runs

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_DRIFT = 3
EXIT_HALTED = 4
EXIT_CODES = {
    Outcome.IN_SYNC: EXIT_OK,
    Outcome.REPAIRED: EXIT_OK,
    Outcome.IMPORTED: EXIT_OK,
    Outcome.DRIFT_FOUND: EXIT_DRIFT,
    Outcome.HALTED: EXIT_HALTED,
    Outcome.FAILED: EXIT_ERROR,
}


class _RunByDefault(click.Group):
    """`reconcile TENANT ...` is `reconcile run TENANT ...`; `show` and `list` are named."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


class ProgressLine:
    """Keys scanned / expected, rate and ETA: redrawn in place on a terminal, a plain line
    every `every` seconds otherwise (logs, CI)."""

    def __init__(self, stream: TextIO, *, every: float = 5.0):
        self.stream, self.every = stream, every
        self.tty = stream.isatty()
        self.stage, self.done, self.started, self.shown = "", 0, time.monotonic(), 0.0

    def __call__(self, stage: str, n: int, total: int) -> None:
        now = time.monotonic()
        if stage != self.stage:
            self.finish()
            self.stage, self.done, self.started, self.shown = stage, 0, now, 0.0
        self.done += n
        if not self.tty and now - self.shown < self.every:
            return
        self.shown = now
        rate = self.done / max(now - self.started, 1e-6)
        left = max(total - self.done, 0)
        eta = f"ETA {left / rate:.0f} s" if rate and total else ""
        text = f"{stage}: {self.done:,}/{max(total, self.done):,} keys  {rate:,.0f}/s  {eta}"
        if self.tty:
            self.stream.write(f"\r{text}\033[K")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.tty and self.stage:
            self.stream.write("\n")
            self.stream.flush()


def _item_line(n: int, item: dict[str, Any]) -> str:
    change = ""
    if item.get("before") or item.get("after"):
        change = f" [{_short(item.get('before'))} -> {_short(item.get('after'))}]"
    name = item.get("name") or "-"
    return f"  {n:>4}. {item['kind']:<18} {name} ({item['scim_id']}): {item['consequence']}{change}"


def _short(values: dict[str, Any] | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in (values or {}).items()) or "-"


def human_report(report: dict[str, Any]) -> str:
    mode = "dry run, " if report.get("dry_run") else ""
    lines = [
        f"run {report['run_id']}: {report['outcome']} ({report['source']}, {mode}"
        f"{report['duration_seconds']}s): {report.get('drift', 0)} drift items"
    ]
    if report.get("detail"):
        lines.append(report["detail"])
    counts = report.get("counts") or {}
    for kind, n in sorted(counts.items()):
        lines.append(f"  {kind:<20} {n}")
    if report["outcome"] == Outcome.HALTED:
        lines.append("Members it would have deactivated or removed:")
        halted = report.get("would_remove_or_deactivate") or []
        lines += [_item_line(i + 1, item) for i, item in enumerate(halted)]
        more = report.get("destructive", 0) - len(halted)
        if more > 0:
            lines.append(
                f"  and {more} more (scimsync reconcile show {report['run_id']} --destructive)"
            )
    elif report.get("items"):
        lines.append("Items:")
        lines += [_item_line(i + 1, item) for i, item in enumerate(report["items"])]
    if report.get("more_items") and report["outcome"] != Outcome.HALTED:
        show = f"scimsync reconcile show {report['run_id']}"
        lines.append(f"  and {report['more_items']} more ({show})")
    if not counts and report["outcome"] != Outcome.FAILED:
        lines.append("  no drift")
    return "\n".join(lines)


def register(main: click.Group) -> None:
    @main.group(cls=_RunByDefault)
    def reconcile() -> None:
        """Compare the IdP's state with the workspace: `reconcile TENANT` runs (see `reconcile
        run --help`), `reconcile show RUN` and `reconcile list TENANT` read stored runs.

        Exit codes of a run: 0 in sync or repaired, 1 error/failed, 2 usage, 3 a dry run
        found drift, 4 halted by the safety valve."""

    @reconcile.command("run")
    @click.argument("tenant_id")
    @click.option("--dry-run", is_flag=True, help="Report drift item by item, change nothing.")
    @click.option(
        "--source",
        default="mirror",
        show_default=True,
        help="mirror | scim:URL (token: SCIMSYNC_RECONCILE_SOURCE_TOKEN[_FILE]) | file:PATH",
    )
    @click.option("--force", is_flag=True, help="Apply even past the safety valve.")
    @json_option
    def run(tenant_id: str, dry_run: bool, source: str, force: bool, as_json: bool) -> None:
        """Reconcile TENANT and print its drift report (the first items; `show` has all)."""
        try:
            check_source(source)
        except InvalidValue as exc:
            raise click.BadParameter(exc.detail, param_hint="--source") from None
        progress = None if as_json else ProgressLine(sys.stderr)
        try:
            report = run_reconcile(
                tenant_id, dry_run=dry_run, force=force, source=source, progress=progress
            )
        except AlreadyRunning as exc:  # not an error of the request: try again later
            raise click.ClickException(str(exc)) from None
        finally:
            if progress is not None:
                progress.finish()
        emit(report, as_json, human_report)
        sys.exit(EXIT_CODES.get(Outcome(report["outcome"]), EXIT_ERROR))

    @reconcile.command("show")
    @click.argument("run_id", type=int)
    @click.option("--kind", "kinds", multiple=True, help="Only items of this kind (repeatable).")
    @click.option("--destructive", is_flag=True, help="Only members removed or deactivated.")
    @click.option("--ndjson", is_flag=True, help="One JSON item per line (streamed).")
    @json_option
    def show(
        run_id: int, kinds: tuple[str, ...], destructive: bool, ndjson: bool, as_json: bool
    ) -> None:
        """A stored run and every one of its items (read a page at a time)."""
        run = get_run(run_id)
        if run is None:
            raise NotFound(f"no reconcile run {run_id}")
        items = iter_items(run_id, kinds=kinds, destructive=True if destructive else None)
        if ndjson:
            for item in items:
                click.echo(json.dumps(item, default=str))
        elif as_json:
            _stream_json(run, items)
        else:
            click.echo(
                human_report(
                    {**run, "run_id": run["id"], "detail": run["error"], "drift": run["item_count"]}
                )
            )
            _echo_items(items)

    @reconcile.command("list")
    @click.argument("tenant_id")
    @click.option("--limit", default=20, show_default=True)
    @json_option
    def list_(tenant_id: str, limit: int, as_json: bool) -> None:
        """The tenant's latest runs, newest first."""
        emit(list_runs(tenant_id, limit), as_json, _runs_table)


def _echo_items(items: Iterator[dict[str, Any]]) -> None:
    for n, item in enumerate(items, 1):
        click.echo(_item_line(n, item))


def _stream_json(run: dict[str, Any], items: Iterator[dict[str, Any]]) -> None:
    head = json.dumps(run, default=str)
    click.echo(head[:-1] + ', "items": [', nl=False)
    for n, item in enumerate(items):
        click.echo(("," if n else "") + json.dumps(item, default=str), nl=False)
    click.echo("]}")


def _runs_table(runs: list[dict[str, Any]]) -> str:
    if not runs:
        return "(no reconcile run)"
    lines = [f"{'run':>6}  {'started':<25} {'outcome':<12} {'mode':<4} {'items':>7}  source"]
    for r in runs:
        mode = "dry" if r["dry_run"] else "real"
        lines.append(
            f"{r['id']:>6}  {str(r['started_at'])[:25]:<25} {r['outcome']:<12} {mode:<4} "
            f"{r['item_count']:>7}  {r['source']}"
        )
    return "\n".join(lines)


__all__ = ["REPORTED_ITEMS", "register"]
