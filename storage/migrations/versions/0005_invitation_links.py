"""invitation links: token hash, sent/expiry/revocation times; members' password hash

Revision ID: 0005
Revises: 0004

Existing invitations stay open and unsent (no link yet): an admin sends them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("invitations") as batch:
        batch.add_column(sa.Column("token_hash", sa.String(length=64)))
        batch.add_column(sa.Column("sent_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("revoked_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("sends", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("invitations") as batch:
        batch.alter_column("sends", server_default=None)
    op.create_index("ix_invitations_token", "invitations", ["token_hash"], unique=True)
    op.add_column("members", sa.Column("password_hash", sa.String(length=200)))


def downgrade() -> None:
    op.drop_column("members", "password_hash")
    op.drop_index("ix_invitations_token", table_name="invitations")
    with op.batch_alter_table("invitations") as batch:
        for column in ("sends", "revoked_at", "expires_at", "sent_at", "token_hash"):
            batch.drop_column(column)
