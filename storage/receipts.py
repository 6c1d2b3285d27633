"""Webhook receipts (storage/schema.py `webhook_receipts`): kept for the replay window only.

A receipt makes a redelivered event a no-op. A signed push older than the signature
tolerance (300 s) is refused on its timestamp anyway, and Okta redelivers within
minutes, so a receipt is useless after a day; kept for ever, the table would grow by
every event ever pushed. Beat purges by age, in committed batches (an index on
received_at: no scan).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, select, tuple_

from storage.schema import webhook_receipts as _r


def purge_batch(conn: Connection, before: datetime, batch: int = 5000) -> int:
    """Delete up to `batch` receipts received before `before`; how many were deleted."""
    oldest = select(_r.c.tenant_id, _r.c.event_id).where(_r.c.received_at < before).limit(batch)
    result = conn.execute(delete(_r).where(tuple_(_r.c.tenant_id, _r.c.event_id).in_(oldest)))
    return int(result.rowcount or 0)
