"""The Celery side of scim-sync: `celery -A worker worker|beat|flower`.

`app` is resolved lazily so that importing `worker.settings` (as the API does)
does not build the Celery app.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name in ("app", "celery"):
        from worker.celery_app import app

        return app
    raise AttributeError(name)
