"""The pipeline's figures per tenant, sampled over time for the dashboard's trend charts.

`take` reads what `scimsync status` shows (storage/outbox.py's `pipeline_status`) for
every tenant, over the sampling interval; `record` keeps the samples; `since` reads a
window of them back, oldest first; `purge` drops what is past retention. Never commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, insert, select

from storage import outbox, tenants
from storage.clock import as_utc
from storage.schema import pipeline_samples

_s = pipeline_samples.c


@dataclass(frozen=True)
class Sample:
    tenant_id: str
    at: datetime
    queue_depth: int
    oldest_unapplied_age_seconds: float | None
    lag_p50_seconds: float | None  # of the events applied during the interval
    lag_p99_seconds: float | None
    applied: int  # events applied during the interval
    dead_letters: int


def take(conn: Connection, *, now: datetime, interval: timedelta) -> list[Sample]:
    out = []
    for tenant in tenants.list_all(conn):
        status = outbox.pipeline_status(conn, tenant.id, now=now, window=interval)
        out.append(
            Sample(
                tenant.id,
                now,
                status.queue_depth,
                status.oldest_unapplied_age_seconds,
                status.lag_p50_seconds,
                status.lag_p99_seconds,
                status.applied_recent,
                status.dead_letters,
            )
        )
    return out


def record(conn: Connection, samples: Sequence[Sample]) -> int:
    if samples:
        conn.execute(insert(pipeline_samples), [asdict(s) for s in samples])
    return len(samples)


def since(
    conn: Connection, start: datetime, tenant_ids: Sequence[str] | None = None
) -> dict[str, list[Sample]]:
    """{tenant: samples taken at or after `start`, oldest first}."""
    query = select(pipeline_samples).where(_s.at >= start).order_by(_s.tenant_id, _s.at)
    if tenant_ids is not None:
        query = query.where(_s.tenant_id.in_(list(tenant_ids)))
    found: dict[str, list[Sample]] = {}
    for row in conn.execute(query):
        values = {k: v for k, v in row._mapping.items() if k != "id"}
        values["at"] = as_utc(row.at)
        found.setdefault(row.tenant_id, []).append(Sample(**values))
    return found


def purge(conn: Connection, before: datetime) -> int:
    return int(conn.execute(delete(pipeline_samples).where(_s.at < before)).rowcount or 0)
