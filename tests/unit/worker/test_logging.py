"""Logs an operator can read (issue 20, item 5): what a healthy service says every second
is DEBUG, so INFO holds the events."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from worker.logging import configure_logging


@pytest.fixture
def logs(capsys: pytest.CaptureFixture[str]) -> Iterator[object]:
    """The project's logging set-up writing JSON lines to the captured stderr; restored."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level, structlog.get_config()

    def lines(level: str) -> list[dict[str, object]]:
        configure_logging("json", level)
        beat = logging.getLogger("celery.beat")
        beat.info("Scheduler: Sending due task %s (%s)", "relay-unpublished-events", "relay")
        beat.info("beat: Starting...")
        context = {"name": "scimsync.relay", "id": "abc"}
        logging.getLogger("celery.worker.strategy").info("Task %(name)s[%(id)s] received", context)
        logging.getLogger("celery.app.trace").info(
            "Task %(name)s[%(id)s] succeeded in %(runtime)ss: %(return_value)s",
            {**context, "runtime": 0.002, "return_value": {"republished": 0}},
        )
        logging.getLogger("celery.app.trace").error("Task %(name)s[%(id)s] raised", context)
        return [json.loads(line) for line in capsys.readouterr().err.splitlines()]

    yield lines
    root.handlers[:], level, config = saved
    root.setLevel(level)
    structlog.configure(**config)


def test_success_chatter_is_debug(logs: object) -> None:
    at_info = logs("INFO")  # type: ignore[operator]
    assert [(line["level"], line["event"]) for line in at_info] == [
        ("info", "beat: Starting..."),
        ("error", "Task scimsync.relay[abc] raised"),
    ]
    at_debug = logs("DEBUG")  # type: ignore[operator]
    assert [line["level"] for line in at_debug] == ["debug", "info", "debug", "debug", "error"]
    assert at_debug[0]["event"] == ("Scheduler: Sending due task relay-unpublished-events (relay)")
