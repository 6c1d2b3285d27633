"""webhook signing keys encrypted at rest (api_tokens.sealed_secret); receipts by age

The plaintext column stays for one release: a migration has no key to seal with, so
`scimsync db upgrade` seals what it holds right after this revision and empties it.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sealed_secret", sa.String(length=512), nullable=True))
    # Beat purges webhook receipts past the replay window by age.
    op.create_index(
        "ix_webhook_receipts_received_at", "webhook_receipts", ["received_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_receipts_received_at", table_name="webhook_receipts")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("sealed_secret")
