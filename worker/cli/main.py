"""`scimsync` itself and its process commands: up, api, worker, beat, flower, db upgrade.

Each long-running command checks the settings first (worker/safety.py): in production a
placeholder or missing secret stops it with one line naming the variable."""

from __future__ import annotations

import os
import signal
import sys

import click

from storage.db import engine_for
from storage.migrate import upgrade
from worker import service_url
from worker.celery_app import QUEUE, app
from worker.cli.errors import EXIT_CODES_HELP, ScimsyncGroup
from worker.cli.output import emit, json_option
from worker.connections import seal_legacy_secrets
from worker.logging import configure_logging
from worker.runner import ensure_embedded_redis, run_all
from worker.safety import UnsafeSetting, check_startup, flower_auth_problems, unsafe_settings
from worker.settings import get_settings


@click.group(cls=ScimsyncGroup, epilog=EXIT_CODES_HELP)
@click.version_option(package_name="scim-sync", prog_name="scimsync")
@click.option("--debug", is_flag=True, help="Log at DEBUG; on an error, print the traceback.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """scim-sync: keep a workspace in step with its identity provider."""
    # Every command logs through the project's set-up: without it structlog would print
    # rich tracebacks with local variables (tokens, mirrors) for any logged exception.
    debug = debug or bool((ctx.obj or {}).get("debug"))
    settings = get_settings()
    configure_logging(
        settings.log_format,
        "DEBUG" if debug else settings.log_level,
        tracebacks=debug,
    )


@main.command()
@json_option
def up(as_json: bool) -> None:
    """API + worker + beat together on the embedded default; Ctrl-C stops everything."""
    check_startup(get_settings())
    sys.exit(run_all(as_json=as_json))


@main.command()
@json_option
def api(as_json: bool) -> None:
    """The HTTP API (SCIM ingest, webhooks, admin, dashboard, metrics)."""
    import uvicorn  # the HTTP server: loaded only by the one command that serves

    from worker.http_server import server_options

    settings = get_settings()
    check_startup(settings)
    ensure_embedded_redis(settings)
    # Where it listens, for commands run without this process's environment (another
    # terminal's `scimsync scim enable` prints this URL, not the default port).
    service_url.record(settings)
    # uvicorn re-raises SIGTERM once it has shut down; exiting through Python (not the
    # default action) runs the `finally` that withdraws the record.
    signal.signal(signal.SIGTERM, lambda signum, _: sys.exit(128 + signum))
    try:
        uvicorn.run(
            "events.app:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.resolved_api_workers if settings.resolved_api_workers > 1 else None,
            log_config=None,
            access_log=False,
            **server_options(settings),  # slow clients' limits (worker/http_server.py)
        )
    finally:
        service_url.forget(settings)


@main.command(context_settings={"ignore_unknown_options": True})
@click.option("--concurrency", "-c", type=int, default=None)
@json_option
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
def worker(concurrency: int | None, as_json: bool, celery_args: tuple[str, ...]) -> None:
    """A Celery worker applying events (extra arguments go to Celery)."""
    check_startup(get_settings())
    ensure_embedded_redis(get_settings())
    argv = ["worker", "-Q", QUEUE, "--loglevel", get_settings().log_level, *celery_args]
    if concurrency:
        argv += ["--concurrency", str(concurrency)]
    app.worker_main(argv)


@main.command(context_settings={"ignore_unknown_options": True})
@json_option
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
def beat(as_json: bool, celery_args: tuple[str, ...]) -> None:
    """The Celery beat scheduler (relay, reconcile schedule)."""
    settings = get_settings()
    check_startup(settings)
    ensure_embedded_redis(settings)
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    schedule = str(settings.var_dir / "celerybeat-schedule")
    app.start(["beat", "--loglevel", settings.log_level, "--schedule", schedule, *celery_args])


@main.command(context_settings={"ignore_unknown_options": True})
@click.option("--port", type=int, default=5555, show_default=True)
@json_option
@click.argument("flower_args", nargs=-1, type=click.UNPROCESSED)
def flower(port: int, as_json: bool, flower_args: tuple[str, ...]) -> None:
    """Flower, the Celery view: read-only, on SCIMSYNC_HOST, behind FLOWER_BASIC_AUTH.

    Read-only because Flower's API can queue any task with any argument; its basic auth
    (FLOWER_BASIC_AUTH=user:password) is required in production and never a placeholder."""
    settings = get_settings()
    problems = unsafe_settings(settings, needs_secret_key=False) + flower_auth_problems(
        os.environ, settings.environment == "production"
    )
    if problems:
        raise UnsafeSetting(problems)
    ensure_embedded_redis(settings)
    app.start(
        [
            "flower",
            f"--address={settings.host}",
            f"--port={port}",
            "--read_only=true",
            *flower_args,
        ]
    )


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@json_option
def db_upgrade(as_json: bool) -> None:
    """Run the Alembic migrations up to the latest revision."""
    url = get_settings().resolved_database_url
    upgrade(url)
    sealed = seal_legacy_secrets(engine_for(url))
    emit(
        {"upgraded": True, "database": url.split("@")[-1], "sealed_secrets": sealed},
        as_json,
        lambda d: "database is up to date",
    )
