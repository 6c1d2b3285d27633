"""What an unexpected apply error says in a dead letter, a retry note and a log line.

An exception's text can carry people's data: a driver's message quotes the row it
refused (PostgreSQL: `DETAIL: Key (tenant_id, email_ci)=(..., ada@example.com) already
exists`), and SQLAlchemy's text appends the statement's parameters (hidden by the
engine's `hide_parameters`, storage/db.py, but not by every caller's engine). Dead
letters are read by operators, listed by the CLI and kept for weeks: the reason keeps
the error's type and its first line, with parameters and email addresses taken out.
"""

from __future__ import annotations

import re

from sqlalchemy.exc import StatementError

MAX_REASON = 2000
# Bounded repetitions on both sides of the "@": linear on any input.
_EMAIL = re.compile(r"[^\s@'\"(),;=<>\[\]]{1,64}@[^\s@'\"(),;=<>\[\]]{1,255}")
_PARAMETERS = re.compile(r"\[parameters: [^\n]*")


def failure_reason(exc: BaseException) -> str:
    if isinstance(exc, StatementError) and exc.orig is not None:
        # The driver's first line names the constraint; the SQL and any DETAIL follow it.
        lines = str(exc.orig).strip().splitlines()
        text = f"{type(exc.orig).__name__}: {lines[0] if lines else ''}"
    else:
        lines = str(exc).strip().splitlines()
        text = f"{type(exc).__name__}: {lines[0] if lines else ''}"
    text = _PARAMETERS.sub("[parameters hidden]", text)
    return _EMAIL.sub("[email]", text)[:MAX_REASON]
