"""Fixtures for the fault tests: a service whose Redis and database the test may break.

Per module: a private redis-server (restartable, no persistence), the database
(SQLite on the embedded pass; on the PostgreSQL pass, when SCIMSYNC_DATABASE_URL
is set, a private cluster made with initdb/pg_ctl on a free port, so stopping
it never touches the machine's shared server), and `scimsync api` + `scimsync
beat`. Each test starts and kills its own workers and uses its own tenant.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.harness import ServiceStack, attach_logs_on_failure, clean_environment
from tests.e2e.postgres import PostgresCluster, postgres_available
from tests.e2e.servers import RedisServer

EXTERNAL_DB = os.environ.get("SCIMSYNC_DATABASE_URL")

# Short relay timings so a lost message is made good within seconds, not half a minute.
CHAOS_ENV = {
    # The worker-kill test aims at apply tasks by Celery's "received"/"succeeded" lines,
    # which are DEBUG (success chatter stays out of an operator's INFO log).
    "SCIMSYNC_LOG_LEVEL": "DEBUG",
    "SCIMSYNC_RELAY_INTERVAL_SECONDS": "1",
    "SCIMSYNC_RELAY_GRACE_SECONDS": "2",
    "SCIMSYNC_STUCK_EVENT_SECONDS": "8",
}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    outcome = yield
    attach_logs_on_failure(item, outcome.get_result())


@dataclass
class Chaos:
    stack: ServiceStack
    redis: RedisServer
    postgres: PostgresCluster | None

    def log_report(self) -> str:
        parts = [self.stack.log_report()]
        if self.redis.process is not None:
            parts.append(f"--- redis.log ---\n{self.redis.process.log_tail(3000)}")
        if self.postgres is not None:
            parts.append(f"--- postgres.log ---\n{self.postgres.log_tail()}")
        return "\n".join(parts)


@pytest.fixture(scope="module")
def chaos_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chaos")


@pytest.fixture(scope="module")
def private_postgres(chaos_root: Path) -> Iterator[PostgresCluster | None]:
    """A private cluster on the PostgreSQL pass; None on the embedded (SQLite) pass."""
    if not EXTERNAL_DB:
        yield None
        return
    if not postgres_available():
        pytest.fail("the PostgreSQL pass needs initdb and pg_ctl for its private cluster")
    cluster = PostgresCluster()
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture(scope="module")
def chaos(chaos_root: Path, private_postgres: PostgresCluster | None) -> Iterator[Chaos]:
    redis = RedisServer(chaos_root / "redis", chaos_root / "logs", clean_environment())
    redis.start()
    if private_postgres is not None:
        database_url = private_postgres.create_database("scimsync")
    else:
        database_url = f"sqlite:///{chaos_root / 'scimsync.db'}"
    stack = ServiceStack(chaos_root / "service", database_url, redis.url, extra_env=CHAOS_ENV)
    world = Chaos(stack, redis, private_postgres)
    try:
        try:
            stack.cli("db", "upgrade")
            stack.start_api()
            stack.start_beat()
        except Exception as exc:
            raise AssertionError(f"the service did not start: {exc}\n{world.log_report()}") from exc
        yield world
    finally:
        stack.stop_all()
        redis.stop()
