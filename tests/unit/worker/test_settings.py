"""How many API processes `scimsync api` starts when the operator does not say."""

from __future__ import annotations

import os

from worker.settings import Settings


def test_postgresql_gets_one_api_process_per_cpu() -> None:
    settings = Settings(database_url="postgresql://db/scimsync", api_workers=None)
    assert settings.resolved_api_workers == len(os.sched_getaffinity(0))


def test_sqlite_gets_one_api_process() -> None:
    assert Settings(database_url="sqlite:///x.db", api_workers=None).resolved_api_workers == 1


def test_the_operator_setting_wins() -> None:
    settings = Settings(database_url="postgresql://db/scimsync", api_workers=3)
    assert settings.resolved_api_workers == 3
