"""The Celery side of scim-sync: `celery -A worker worker|beat|flower`.

`app` is resolved lazily so that importing `worker.settings` or
`worker.connections` (as the benchmark's own no-op Celery app does) does not
build the service's Celery app.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    """`worker.app` / `worker.celery`, the names `celery -A worker` looks up."""
    if name in ("app", "celery"):
        from worker.celery_app import app  # lazy on purpose: see the module docstring

        return app
    raise AttributeError(name)
