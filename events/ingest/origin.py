"""Which HTTP request is being served, for the audit rows the ingest writes.

The request middleware (events/request_context.py) sets it once per request; the ingest
(events/ingest/service.py) reads it when it audits the request's writes, so no route has
to pass the request down. Writes made outside a request (a reconcile's mirror repair)
find None.
"""

from __future__ import annotations

from contextvars import ContextVar

from storage.audit import RequestOrigin

current_origin: ContextVar[RequestOrigin | None] = ContextVar("current_origin", default=None)
