"""planned mirror: what a source run would change in the mirror, kept for the run's plan

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Id = sa.String(length=64)


def upgrade() -> None:
    op.create_table(
        "planned_users",
        sa.Column("run_id", BigId, nullable=False),
        sa.Column("tenant_id", Id, nullable=False),
        sa.Column("id", Id, nullable=False),
        sa.Column("gone", sa.Boolean(), nullable=False),
        sa.Column("user_name", sa.String(length=320), nullable=False),
        sa.Column("user_name_ci", sa.String(length=320), nullable=False),
        sa.Column("display_name", sa.String(length=320), nullable=True),
        sa.Column("given_name", sa.String(length=200), nullable=True),
        sa.Column("family_name", sa.String(length=200), nullable=True),
        sa.Column("formatted_name", sa.String(length=320), nullable=True),
        sa.Column("email_ci", sa.String(length=320), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("has_password", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "tenant_id", "id", name=op.f("pk_planned_users")),
    )
    op.create_index("ix_planned_users_email", "planned_users", ["run_id", "tenant_id", "email_ci"])
    op.create_table(
        "planned_groups",
        sa.Column("run_id", BigId, nullable=False),
        sa.Column("tenant_id", Id, nullable=False),
        sa.Column("id", Id, nullable=False),
        sa.Column("gone", sa.Boolean(), nullable=False),
        sa.Column("display_name", sa.String(length=320), nullable=False),
        sa.Column("display_name_ci", sa.String(length=320), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "tenant_id", "id", name=op.f("pk_planned_groups")),
    )
    op.create_table(
        "planned_group_members",
        sa.Column("run_id", BigId, nullable=False),
        sa.Column("tenant_id", Id, nullable=False),
        sa.Column("group_id", Id, nullable=False),
        sa.Column("member_id", Id, nullable=False),
        sa.Column("member_type", sa.String(length=10), nullable=False),
        sa.PrimaryKeyConstraint(
            "run_id", "tenant_id", "group_id", "member_id", name=op.f("pk_planned_group_members")
        ),
    )
    op.create_index(
        "ix_planned_group_members_member",
        "planned_group_members",
        ["run_id", "tenant_id", "member_id"],
    )


def downgrade() -> None:
    op.drop_table("planned_group_members")
    op.drop_table("planned_groups")
    op.drop_table("planned_users")
