"""structlog set-up: JSON lines in production, readable lines on a terminal."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

QUIET_LIBRARIES = ("alembic", "httpx", "httpcore")
_SECRET_KEYS = re.compile(r"(token|password|secret|authorization|signature)", re.IGNORECASE)


def _redact_secrets(
    _: Any, __: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Tokens, passwords and webhook secrets never reach a log line, whoever logged them."""
    for key in list(event_dict):
        if _SECRET_KEYS.search(key) and key != "token_id":
            event_dict[key] = "[redacted]"
    return event_dict


def _exception_type_only(
    _: Any, __: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Without tracebacks a logged exception is its type: its message may hold user data."""
    exc_info = event_dict.pop("exc_info", None)
    if exc_info:
        if exc_info is True:
            exc_info = sys.exc_info()
        if isinstance(exc_info, BaseException):
            event_dict["exception_type"] = type(exc_info).__name__
        elif isinstance(exc_info, tuple) and exc_info[0] is not None:
            event_dict["exception_type"] = exc_info[0].__name__
    return event_dict


# What a healthy service says every second: the beat's tick for the relay (every 2 s),
# and Celery's "received" and "succeeded" for every task. At INFO they were a third of
# all lines at idle and hid the events; they are DEBUG. A task's outcome worth reading
# is logged by the task itself (a dead letter is a WARNING with its reason).
CHATTER = (
    ("celery.beat", "Scheduler: Sending due task"),
    ("celery.worker.strategy", "Task %(name)s[%(id)s] received"),
    ("celery.app.trace", "Task %(name)s[%(id)s] succeeded"),
)


class DemoteChatter(logging.Filter):
    """Success chatter becomes DEBUG: shown only when the root logger is at DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or not _is_chatter(record):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger().isEnabledFor(logging.DEBUG)


def _is_chatter(record: logging.LogRecord) -> bool:
    message = str(record.msg)
    return any(
        record.name.startswith(name) and message.startswith(prefix) for name, prefix in CHATTER
    )


def configure_logging(
    log_format: str = "auto", level: str = "INFO", tracebacks: bool = True
) -> None:
    """`tracebacks=False` (the CLI without --debug) logs an exception's type only.

    Tracebacks are always plain: structlog's default pretty printer shows every frame's
    local variables, which hold live tokens and user data."""
    use_json = log_format == "json" or (log_format == "auto" and not sys.stderr.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback)
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact_secrets,
        *([] if tracebacks else [_exception_type_only]),
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,  # tracebacks of Celery's own loggers
                renderer,
            ],
        )
    )
    handler.addFilter(DemoteChatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Libraries' success chatter ("Context impl SQLiteImpl.") only when debugging.
    for chatty in QUIET_LIBRARIES:
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))
