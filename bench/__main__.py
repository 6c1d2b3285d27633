"""`python -m bench [--quick] [--scenario NAME ...] [--backend sqlite|postgres ...]`.

Runs every scenario on the embedded default and on PostgreSQL + Redis, prints
the Markdown table and writes bench/results/latest.md and latest.json. A
scenario that fails keeps a row saying so and the run goes on; the exit status
is 1 when any scenario failed (missed targets are results, not failures).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from bench import report as reporting
from bench.backends import POSTGRES_ADMIN_URL, postgres_available
from bench.harness import BACKENDS
from bench.scenarios import NAMES, ScenarioContext, registry
from bench.sizes import FULL, QUICK, SHRUNK


class Progress:
    """One line per scenario: rewritten in place on a terminal, start/end lines otherwise."""

    def __init__(self, stream: TextIO = sys.stderr, verbose: bool = False):
        self.stream = stream
        self.tty = stream.isatty()
        self.verbose = verbose  # every update on its own line, for logs
        self.prefix = ""
        self.started = time.monotonic()

    def begin(self, prefix: str) -> None:
        self.prefix, self.started = prefix, time.monotonic()
        self._write(f"{prefix} …", final=not self.tty)

    def update(self, message: str) -> None:
        line = f"{self.prefix} {time.monotonic() - self.started:6.1f} s  {message}"
        if self.verbose:
            self.stream.write(line + "\n")
        elif self.tty:
            self._write(line)

    def end(self, outcome: str) -> None:
        self._write(
            f"{self.prefix} {outcome} in {time.monotonic() - self.started:.0f} s", final=True
        )

    def _write(self, text: str, final: bool = False) -> None:
        if self.tty:
            width = shutil.get_terminal_size().columns - 1
            self.stream.write("\r\x1b[K" + text[:width] + ("\n" if final else ""))
        elif final:
            self.stream.write(text + "\n")
        self.stream.flush()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (CI smoke test)")
    parser.add_argument("--scenario", action="append", choices=NAMES, help="repeatable")
    parser.add_argument("--backend", action="append", choices=list(BACKENDS), help="repeatable")
    parser.add_argument("--verbose", action="store_true", help="log every progress step")
    return parser.parse_args(argv)


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> Any:
    raise KeyboardInterrupt  # unwinds every scenario's cleanup


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    report = reporting.Report(mode="quick" if args.quick else "full")
    backends = args.backend or list(BACKENDS)
    if "postgres" in backends and (why := postgres_available()):
        if args.backend:
            print(f"PostgreSQL at {POSTGRES_ADMIN_URL} is not reachable: {why}", file=sys.stderr)
            return 2
        backends.remove("postgres")
        report.notes.append(f"PostgreSQL + Redis skipped: {POSTGRES_ADMIN_URL} unreachable ({why})")
    scenarios = registry()
    names = args.scenario or list(NAMES)
    if not args.quick:
        report.notes += [f"{name}: {why}" for name in names for why in SHRUNK.get(name, [])]
    progress, failed = Progress(verbose=args.verbose), False
    shared: dict[str, Any] = {}
    root = Path(tempfile.mkdtemp(prefix="scimsync-bench-"))
    steps = [(backend, name) for backend in backends for name in names]
    try:
        for number, (backend, name) in enumerate(steps, 1):
            progress.begin(f"[{number}/{len(steps)}] {name} · {backend}")
            ctx = ScenarioContext(
                name,
                backend,
                QUICK if args.quick else FULL,
                root,
                args.quick,
                progress.update,
                shared,
            )
            try:
                report.rows += scenarios[name](ctx)
                progress.end("done")
            except Exception as exc:
                failed = True
                traceback.print_exc()
                report.rows.append(ctx.row(name, "", None, note=f"failed: {exc}"[:400]))
                progress.end("FAILED")
    except KeyboardInterrupt:
        progress.end("interrupted")
        report.notes.append("the run was interrupted: some scenarios are missing")
        failed = True
    finally:
        shutil.rmtree(root, ignore_errors=True)
    report.machine["load_average_end"] = round(os.getloadavg()[0], 1)
    print(reporting.write(report, BACKENDS))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
