"""Fixtures for end-to-end tests: the service as real processes, per test module.

Each module gets its own Redis (a private redis-server on a free port), its own
database (a SQLite file, or a fresh database on the server named by
SCIMSYNC_DATABASE_URL on CI's PostgreSQL pass) and its own API, worker and beat
processes. A failing test prints the processes' logs.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import ServiceStack, attach_logs_on_failure, clean_environment
from tests.e2e.postgres import create_postgres_database, drop_postgres_database
from tests.e2e.servers import RedisServer

EXTERNAL_DB = os.environ.get("SCIMSYNC_DATABASE_URL")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    outcome = yield
    attach_logs_on_failure(item, outcome.get_result())


@pytest.fixture(scope="module")
def module_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="module")
def module_database(module_root: Path) -> Iterator[str]:
    if EXTERNAL_DB:
        url = create_postgres_database(EXTERNAL_DB)
        yield url
        drop_postgres_database(EXTERNAL_DB, url)
    else:
        yield f"sqlite:///{module_root / 'scimsync.db'}"


@pytest.fixture(scope="module")
def module_redis(module_root: Path) -> Iterator[RedisServer]:
    server = RedisServer(module_root / "redis", module_root / "logs", clean_environment())
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stack(
    module_root: Path, module_database: str, module_redis: RedisServer
) -> Iterator[ServiceStack]:
    """API + one worker (concurrency 2) + beat, migrated, on this module's database and Redis."""
    service = ServiceStack(module_root / "service", module_database, module_redis.url)
    try:
        try:
            service.cli("db", "upgrade")
            service.start_api()
            service.start_worker(concurrency=2)
            service.start_beat()
        except Exception as exc:
            raise AssertionError(
                f"the service did not start: {exc}\n{service.log_report()}"
            ) from exc
        yield service
    finally:
        service.stop_all()
