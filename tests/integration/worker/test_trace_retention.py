"""Trace retention: the hourly purge drops applied events, their audit rows and trace refs
once older than SCIMSYNC_TRACE_RETENTION_DAYS, keeps work still to do (dead letters),
and keeps everything when the setting is 0."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from storage.clock import utcnow
from storage.schema import audit_log, change_events, trace_refs
from tests.support.trace_story import tell
from worker.settings import get_settings


def purge_trace(**options: Any) -> dict[str, int]:
    # Imported when called: importing worker.tasks while collecting would configure the
    # Celery app before any test set SCIMSYNC_REDIS_URL, and every later publish would miss.
    from worker.tasks import purge_trace as task

    return task(**options)


def counts(engine: Any) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (change_events, audit_log, trace_refs)
        }


def test_the_purge_drops_what_is_older_than_the_retention_only(
    api: Any, engine: Any, service_env: Any
) -> None:
    tell(api, engine)
    before = counts(engine)
    assert before["trace_refs"] == 1 and before["change_events"] == 8
    assert purge_trace(now=utcnow() + timedelta(days=29)) == {
        "events": 0,
        "audit_rows": 0,
        "trace_refs": 0,
    }
    purged = purge_trace(now=utcnow() + timedelta(days=31), batch=4)  # several batches
    after = counts(engine)
    assert after == {"change_events": 1, "audit_log": 0, "trace_refs": 0}
    assert purged["events"] == 7 and purged["trace_refs"] == 1
    with engine.connect() as conn:  # the refused event stays until it is replayed or purged
        assert conn.execute(select(change_events.c.state)).scalar_one() == "dead"


def test_zero_keeps_everything_and_beat_runs_the_purge(
    api: Any, engine: Any, service_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    tell(api, engine)
    monkeypatch.setenv("SCIMSYNC_TRACE_RETENTION_DAYS", "0")
    get_settings.cache_clear()
    before = counts(engine)
    purge_trace(now=utcnow() + timedelta(days=3650))
    assert counts(engine) == before
    from worker.celery_app import _from_settings

    assert _from_settings()["beat_schedule"]["purge-trace"]["task"] == "scimsync.purge_trace"
