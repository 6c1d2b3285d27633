"""Settings the operator does not give: how many API processes, where `var/` is."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from worker.settings import Settings


def test_postgresql_gets_one_api_process_per_cpu() -> None:
    settings = Settings(database_url="postgresql://db/scimsync", api_workers=None)
    assert settings.resolved_api_workers == len(os.sched_getaffinity(0))


def test_sqlite_gets_one_api_process() -> None:
    assert Settings(database_url="sqlite:///x.db", api_workers=None).resolved_api_workers == 1


def test_the_operator_setting_wins() -> None:
    settings = Settings(database_url="postgresql://db/scimsync", api_workers=3)
    assert settings.resolved_api_workers == 3


def test_var_is_the_projects_not_the_working_directorys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 20: a command run outside the project found no database (`./var`)."""
    monkeypatch.delenv("SCIMSYNC_VAR_DIR", raising=False)
    monkeypatch.delenv("SCIMSYNC_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    project = Path(__file__).resolve().parents[3]
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.var_dir == project / "var"
    assert settings.resolved_database_url == f"sqlite:///{project / 'var' / 'scimsync.db'}"
    monkeypatch.setenv("SCIMSYNC_VAR_DIR", str(tmp_path / "elsewhere"))
    assert Settings(_env_file=None).var_dir == tmp_path / "elsewhere"  # type: ignore[call-arg]
