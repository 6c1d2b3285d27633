"""reconcile items: each run's drift, item by item; run totals; what source runs know

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("reconcile_runs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("item_count", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("destructive", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("members", sa.Integer(), nullable=True))
    op.create_table(
        "reconcile_items",
        sa.Column("run_id", BigId, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("resource_type", sa.String(length=10), nullable=False),
        sa.Column("scim_id", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=400), nullable=True),
        sa.Column("name_ci", sa.String(length=400), nullable=True),
        sa.Column("before", sa.JSON(), nullable=False),
        sa.Column("after", sa.JSON(), nullable=False),
        sa.Column("consequence", sa.Text(), nullable=False),
        sa.Column("destructive", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "seq", name=op.f("pk_reconcile_items")),
    )
    with op.batch_alter_table("reconcile_items", schema=None) as batch_op:
        batch_op.create_index(
            "ix_reconcile_items_run_kind", ["run_id", "kind", "seq"], unique=False
        )
        batch_op.create_index(
            "ix_reconcile_items_tenant_scim", ["tenant_id", "scim_id"], unique=False
        )
        batch_op.create_index(
            "ix_reconcile_items_tenant_name", ["tenant_id", "name_ci"], unique=False
        )
    op.create_table(
        "reconcile_source_keys",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("resource_type", sa.String(length=10), nullable=False),
        sa.Column("key_ci", sa.String(length=400), nullable=False),
        sa.Column("source_id", sa.String(length=200), nullable=False),
        sa.Column("our_id", sa.String(length=64), nullable=True),
        sa.Column("digest", sa.String(length=64), nullable=True),
        sa.Column("mirror_version", sa.Integer(), nullable=True),
        sa.Column("seen_run", BigId, nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id", "resource_type", "key_ci", name=op.f("pk_reconcile_source_keys")
        ),
    )
    with op.batch_alter_table("reconcile_source_keys", schema=None) as batch_op:
        batch_op.create_index(
            "ix_reconcile_source_keys_source",
            ["tenant_id", "resource_type", "source_id"],
            unique=False,
        )


def downgrade() -> None:
    op.drop_table("reconcile_source_keys")
    op.drop_table("reconcile_items")
    with op.batch_alter_table("reconcile_runs", schema=None) as batch_op:
        batch_op.drop_column("members")
        batch_op.drop_column("destructive")
        batch_op.drop_column("item_count")
