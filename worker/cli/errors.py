"""The CLI's one error-handling layer: every failure is one line naming the fix.

Every `scimsync` command runs inside `ScimsyncGroup.main`, so no command handles
its own errors. An error becomes one line on stderr (with `--json`: one JSON object
`{"error", "detail", "exit_code"}` on stdout) and an exit code:

    0 success · 1 error · 2 usage error · 3 dry run found drift · 4 halted run ·
    130 interrupted

Why no traceback by default: a traceback's frames hold live bearer tokens, settings
and whole mirrors; an operator pasting it into a ticket leaks them. `--debug`
(anywhere on the line) prints the plain traceback, without local variables.
An unexpected error prints its type only, never its message, for the same reason.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import click
import httpx
import pydantic
import redis.exceptions
import sqlalchemy.exc
from sqlalchemy.engine import make_url

from reconciler.errors import Refusal, error_code
from storage.sqlite_gate import LOCK_SUFFIX
from worker.safety import UnsafeSetting
from worker.settings import get_settings

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_CODES_HELP = (
    "Exit codes: 0 success, 1 error, 2 usage error, 3 dry run found drift, "
    "4 reconcile halted by the safety valve, 130 interrupted. "
    "--json anywhere: errors as JSON on stdout. --debug anywhere: the traceback."
)

# What to do next after a refusal, by its code (the refusal itself says what is wrong).
REFUSAL_FIXES = {
    "scim_already_enabled": "for a new token run `scimsync scim rotate-token TENANT`",
    "sso_not_configured": "configure SSO first (`scimsync tenant create --sso-domain ...`)",
    "scim_disabled": "enable it first with `scimsync scim enable TENANT`",
    "sso_domain_taken": "remove it from that workspace first (`scimsync tenant show ID`)",
}
# What to list after a `not_found`, by what was not found (the detail's first word).
NOT_FOUND_FIXES = {
    "workspace": "list the workspaces with `scimsync tenant list`",
    "tenant": "list the workspaces with `scimsync tenant list`",
    "member": "list the members with `scimsync members TENANT`",
    "group": "list the groups with `scimsync groups TENANT`",
    "dead": "list the dead letters with `scimsync dlq list`",
    "reconcile": "list the runs with `scimsync reconcile list TENANT`",
}


@dataclass(frozen=True)
class CliError:
    code: str
    detail: str  # what is wrong
    fix: str | None = None  # what to do about it
    exit_code: int = EXIT_ERROR

    def line(self) -> str:
        coded = self.code not in _PLAIN_CODES
        return (
            f"Error: {self.detail}{f' ({self.code})' if coded else ''}"
            f"{f'; {self.fix}' if self.fix else ''}"
        )


_PLAIN_CODES = {"usage", "error", "aborted", "interrupted"}


def _no_database(path: str) -> CliError:
    return CliError(
        "no_database",
        f"no database at {path}",
        "run `scimsync db upgrade` (or `make up`) first, or point SCIMSYNC_VAR_DIR or "
        "SCIMSYNC_DATABASE_URL at the service's database",
    )


def _missing_sqlite_file(database_url: str | None) -> str | None:
    """The path of a SQLite database that does not exist (a read opens none)."""
    try:
        url = make_url(database_url or "")
    except sqlalchemy.exc.ArgumentError:
        return None
    path = url.database
    if url.get_backend_name() != "sqlite" or not path or path == ":memory:":
        return None
    return None if Path(path).exists() else path


def _database(exc: sqlalchemy.exc.DBAPIError, database_url: str | None) -> CliError:
    missing = _missing_sqlite_file(database_url)
    if missing is not None:
        return _no_database(missing)
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__
    where = _safe_database_url(database_url)
    missing_table = "no such table" in reason or "does not exist" in reason
    fix = (
        "run `scimsync db upgrade`"
        if missing_table
        else "run from the project, or set SCIMSYNC_VAR_DIR or SCIMSYNC_DATABASE_URL"
    )
    return CliError("database_unavailable", f"database {where}: {reason}", fix)


def _safe_database_url(url: str | None) -> str:
    if not url:
        return "(unknown)"
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sqlalchemy.exc.ArgumentError:
        return "(unreadable URL)"


def _safe_http_url(url: object) -> str:
    """Scheme, host and path: a query or userinfo may hold a credential."""
    parts = urlsplit(str(url))
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"


def _settings_error(exc: pydantic.ValidationError) -> CliError:
    # Never the input: the offending value may be a token.
    problems = "; ".join(
        f"SCIMSYNC_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
        for e in exc.errors(include_input=False, include_url=False)
    )
    return CliError("invalid_setting", problems, "fix the environment or .env")


def classify(exc: BaseException, database_url: str | None = None) -> CliError:
    """The one line for an error, by what the operator should do about it."""
    if isinstance(exc, UnsafeSetting):
        return CliError(
            "unsafe_setting",
            str(exc),
            'deploy/scimsync.env.example and the README\'s "Deploying safely" say how',
        )
    if isinstance(exc, Refusal):
        code = error_code(exc)
        if code == "not_found":
            words = exc.detail.lower().removeprefix("no ").split()
            noun = words[0].strip(",") if words else ""
            return CliError(code, exc.detail, NOT_FOUND_FIXES.get(noun))
        return CliError(code, exc.detail, REFUSAL_FIXES.get(code))
    if isinstance(exc, click.UsageError):
        return CliError("usage", exc.format_message(), "see --help", EXIT_USAGE)
    if isinstance(exc, click.ClickException):
        return CliError("error", exc.format_message(), exit_code=exc.exit_code)
    if isinstance(exc, click.Abort):
        return CliError("aborted", "aborted")
    if isinstance(exc, FileNotFoundError) and str(exc.filename).endswith(LOCK_SUFFIX):
        # The embedded default's var dir is missing: SQLite's writer lock lives beside the file.
        return _no_database(str(exc.filename).removesuffix(LOCK_SUFFIX))
    if isinstance(exc, sqlalchemy.exc.DBAPIError):
        return _database(exc, database_url)
    if isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
        return CliError(
            "redis_unavailable",
            f"cannot reach Redis ({type(exc).__name__})",
            "start it (`make up` runs an embedded one) or set SCIMSYNC_REDIS_URL",
        )
    if isinstance(exc, httpx.HTTPStatusError):
        response = exc.response
        return CliError(
            "source_http_error",
            f"{_safe_http_url(exc.request.url)} answered HTTP {response.status_code} "
            f"{response.reason_phrase}",
            "check the URL and the source token (SCIMSYNC_RECONCILE_SOURCE_TOKEN)",
        )
    if isinstance(exc, httpx.RequestError):
        return CliError(
            "source_unreachable",
            f"cannot reach {_safe_http_url(exc.request.url)} ({type(exc).__name__})",
            "check the URL and the network",
        )
    if isinstance(exc, pydantic.ValidationError):
        return _settings_error(exc)
    if isinstance(exc, FileNotFoundError | PermissionError | IsADirectoryError):
        what = {FileNotFoundError: "no such file", PermissionError: "permission denied"}
        return CliError(
            "file_error", f"{what.get(type(exc), 'not a file')}: {exc.filename}", "check the path"
        )
    if isinstance(exc, KeyboardInterrupt):
        return CliError("interrupted", "interrupted", exit_code=EXIT_INTERRUPTED)
    return CliError(
        "internal_error",
        f"unexpected error ({type(exc).__name__})",
        "run again with --debug for the traceback, and report it",
    )


def report(error: CliError, as_json: bool) -> NoReturn:
    if as_json:
        body = {"error": error.code, "detail": error.detail, "fix": error.fix}
        click.echo(json.dumps({**body, "exit_code": error.exit_code}))
    else:
        click.echo(error.line(), err=True)
    sys.exit(error.exit_code)


def _database_url() -> str | None:
    try:
        return get_settings().resolved_database_url
    except pydantic.ValidationError:  # the settings are the failure being reported
        return None


class ScimsyncGroup(click.Group):
    """The root group: parses, runs, and turns every exception into `report`."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        options = argv[: argv.index("--")] if "--" in argv else argv
        as_json = "--json" in options
        debug = "--debug" in options
        if debug:
            argv.remove("--debug")
        extra.setdefault("obj", {})["debug"] = debug
        try:
            result = super().main(
                argv, prog_name or "scimsync", complete_var, standalone_mode=False, **extra
            )
        except SystemExit:
            raise
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except (Exception, KeyboardInterrupt) as exc:
            if debug:
                traceback.print_exception(exc, file=sys.stderr)
            report(classify(exc, _database_url()), as_json)
        sys.exit(result if isinstance(result, int) else EXIT_OK)
