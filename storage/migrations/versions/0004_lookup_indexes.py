"""lookup indexes: users by displayName (folded), so every `eq` lookup an IdP makes is an index

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # `displayName eq` on /Users compares lower(display_name) (not caseExact, no folded
    # copy stored): without this expression index it read every user of the tenant.
    op.create_index(
        "ix_mirror_users_display_name",
        "mirror_users",
        ["tenant_id", sa.text("lower(display_name)")],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_mirror_users_display_name", table_name="mirror_users")
