"""The `scimsync` command line (DESIGN.md section 5). Thin: parse, call, format."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from datetime import datetime
from typing import Any

import click

from worker.settings import get_settings


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


@click.group()
def main() -> None:
    """scim-sync: keep a workspace in step with its identity provider."""


@main.command()
@json_option
def up(as_json: bool) -> None:
    """API + worker + beat together on the embedded default; Ctrl-C stops everything."""
    from worker.runner import run_all

    sys.exit(run_all(as_json=as_json))


@main.command()
@json_option
def api(as_json: bool) -> None:
    """The HTTP API (SCIM ingest, webhooks, admin, dashboard, metrics)."""
    import uvicorn

    from worker.runner import ensure_embedded_redis

    settings = get_settings()
    ensure_embedded_redis(settings)
    uvicorn.run(
        "events.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.api_workers if settings.api_workers > 1 else None,
        log_config=None,
        access_log=False,
    )


@main.command(context_settings={"ignore_unknown_options": True})
@click.option("--concurrency", "-c", type=int, default=None)
@json_option
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
def worker(concurrency: int | None, as_json: bool, celery_args: tuple[str, ...]) -> None:
    """A Celery worker applying events (extra arguments go to Celery)."""
    from worker.celery_app import QUEUE, app
    from worker.runner import ensure_embedded_redis

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
    from worker.celery_app import app
    from worker.runner import ensure_embedded_redis

    settings = get_settings()
    ensure_embedded_redis(settings)
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    schedule = str(settings.var_dir / "celerybeat-schedule")
    app.start(["beat", "--loglevel", settings.log_level, "--schedule", schedule, *celery_args])


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@json_option
def db_upgrade(as_json: bool) -> None:
    """Run the Alembic migrations up to the latest revision."""
    from storage.migrate import upgrade

    url = get_settings().resolved_database_url
    upgrade(url)
    emit(
        {"upgraded": True, "database": url.split("@")[-1]},
        as_json,
        lambda d: "database is up to date",
    )


from worker import cli_admin, cli_ops  # noqa: E402  (sub-commands register themselves)

cli_admin.register(main)
cli_ops.register(main)
cli_ops.register_reconcile(main)

from worker import cli_webhooks  # noqa: E402  (issue 6: webhook secrets)

cli_webhooks.register(main)
