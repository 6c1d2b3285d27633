"""provisioning trace: indexes that find a person's rows, audit_log.event_id, trace_refs

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("event_id", sa.BigInteger(), nullable=True))
        batch_op.create_index("ix_audit_log_target", ["tenant_id", "target", "id"], unique=False)
        batch_op.create_index("ix_audit_log_event", ["tenant_id", "event_id"], unique=False)
    with op.batch_alter_table("change_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_change_events_resource",
            ["tenant_id", "resource_type", "resource_id", "id"],
            unique=False,
        )
    with op.batch_alter_table("dead_letters", schema=None) as batch_op:
        batch_op.create_index(
            "ix_dead_letters_resource", ["tenant_id", "resource_type", "resource_id"], unique=False
        )
    op.create_table(
        "trace_refs",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("change", sa.String(length=6), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "subject_id", "event_id", name=op.f("pk_trace_refs")),
    )
    with op.batch_alter_table("trace_refs", schema=None) as batch_op:
        batch_op.create_index("ix_trace_refs_event", ["event_id"], unique=False)
    # Existing ingest rows name their event in detail.event_id; copying it into the column
    # makes the history written before this migration visible to the trace too.
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(
            "UPDATE audit_log SET event_id = (detail->>'event_id')::bigint "
            "WHERE detail->>'event_id' IS NOT NULL"
        )
    else:
        op.execute(
            "UPDATE audit_log SET event_id = json_extract(detail, '$.event_id') "
            "WHERE json_extract(detail, '$.event_id') IS NOT NULL"
        )


def downgrade() -> None:
    with op.batch_alter_table("trace_refs", schema=None) as batch_op:
        batch_op.drop_index("ix_trace_refs_event")
    op.drop_table("trace_refs")
    with op.batch_alter_table("dead_letters", schema=None) as batch_op:
        batch_op.drop_index("ix_dead_letters_resource")
    with op.batch_alter_table("change_events", schema=None) as batch_op:
        batch_op.drop_index("ix_change_events_resource")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_event")
        batch_op.drop_index("ix_audit_log_target")
        batch_op.drop_column("event_id")
