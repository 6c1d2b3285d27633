"""pipeline samples: the pipeline's figures per tenant over time, for the dashboard's trends

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "pipeline_samples",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("queue_depth", sa.Integer(), nullable=False),
        sa.Column("oldest_unapplied_age_seconds", sa.Float(), nullable=True),
        sa.Column("lag_p50_seconds", sa.Float(), nullable=True),
        sa.Column("lag_p99_seconds", sa.Float(), nullable=True),
        sa.Column("applied", sa.Integer(), nullable=False),
        sa.Column("dead_letters", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipeline_samples")),
    )
    with op.batch_alter_table("pipeline_samples", schema=None) as batch_op:
        batch_op.create_index("ix_pipeline_samples_tenant_at", ["tenant_id", "at"], unique=False)
        batch_op.create_index("ix_pipeline_samples_at", ["at"], unique=False)


def downgrade() -> None:
    op.drop_table("pipeline_samples")
