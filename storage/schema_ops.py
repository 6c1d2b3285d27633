"""Tables for operators, not for the workspace: the pipeline's figures sampled over time.

`pipeline_samples` holds one row per tenant per sampling tick (beat's
`scimsync.sample_pipeline`, every `SCIMSYNC_PIPELINE_SAMPLE_SECONDS`): what the dashboard's
trend charts draw for the last hour without re-reading the event log on every refresh.
Kept for `SCIMSYNC_PIPELINE_SAMPLE_RETENTION_HOURS`.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, Table

from storage.schema_base import BigId, Id, Timestamp, metadata

pipeline_samples = Table(
    "pipeline_samples",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("tenant_id", Id, nullable=False),
    Column("at", Timestamp, nullable=False),
    Column("queue_depth", Integer, nullable=False),
    Column("oldest_unapplied_age_seconds", Float),
    Column("lag_p50_seconds", Float),
    Column("lag_p99_seconds", Float),
    Column("applied", Integer, nullable=False),  # events applied since the previous sample
    Column("dead_letters", Integer, nullable=False),
    Index("ix_pipeline_samples_tenant_at", "tenant_id", "at"),
    Index("ix_pipeline_samples_at", "at"),
)
