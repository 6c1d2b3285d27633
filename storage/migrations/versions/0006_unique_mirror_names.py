"""One mirrored group per displayName and per externalId, one user per externalId.

A retried create must answer 409 `uniqueness`, never make a second resource, so the
indexes on these columns become unique. Mirrors written before this may already hold
duplicates (a retried group create made "Team" twice): the oldest keeps the value; each
younger copy keeps its SCIM body but no longer answers to the name or externalId in SQL
(its `display_name_ci` gets its id appended, its `external_id` column is cleared), so the
IdP's lookup by name or externalId finds one resource, the one it created first.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

NAME_LENGTH = 320


def _younger_duplicates(table: str, column: str) -> list[tuple[str, str, str]]:
    """(tenant_id, id, value) of every row but the oldest sharing its tenant and value."""
    rows = op.get_bind().execute(
        sa.text(
            f"SELECT tenant_id, id, {column} FROM {table} WHERE {column} IS NOT NULL "
            f"ORDER BY tenant_id, {column}, created_at, id"
        )
    )
    seen: set[tuple[str, str]] = set()
    younger = []
    for tenant_id, row_id, value in rows:
        if (tenant_id, value) in seen:
            younger.append((tenant_id, row_id, value))
        seen.add((tenant_id, value))
    return younger


def _set(table: str, column: str, value: str | None, tenant_id: str, row_id: str) -> None:
    op.get_bind().execute(
        sa.text(f"UPDATE {table} SET {column} = :value WHERE tenant_id = :tenant AND id = :id"),
        {"value": value, "tenant": tenant_id, "id": row_id},
    )


def upgrade() -> None:
    for tenant_id, row_id, value in _younger_duplicates("mirror_groups", "display_name_ci"):
        suffix = f" #{row_id}"
        _set(
            "mirror_groups",
            "display_name_ci",
            value[: NAME_LENGTH - len(suffix)] + suffix,
            tenant_id,
            row_id,
        )
    for table in ("mirror_groups", "mirror_users"):
        for tenant_id, row_id, _ in _younger_duplicates(table, "external_id"):
            _set(table, "external_id", None, tenant_id, row_id)
    with op.batch_alter_table("mirror_groups", schema=None) as batch_op:
        batch_op.drop_index("ix_mirror_groups_name")
        batch_op.drop_index("ix_mirror_groups_external_id")
        batch_op.create_index(
            "uq_mirror_groups_name", ["tenant_id", "display_name_ci"], unique=True
        )
        batch_op.create_index(
            "uq_mirror_groups_external_id", ["tenant_id", "external_id"], unique=True
        )
    with op.batch_alter_table("mirror_users", schema=None) as batch_op:
        batch_op.drop_index("ix_mirror_users_external_id")
        batch_op.create_index(
            "uq_mirror_users_external_id", ["tenant_id", "external_id"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("mirror_users", schema=None) as batch_op:
        batch_op.drop_index("uq_mirror_users_external_id")
        batch_op.create_index("ix_mirror_users_external_id", ["tenant_id", "external_id"])
    with op.batch_alter_table("mirror_groups", schema=None) as batch_op:
        batch_op.drop_index("uq_mirror_groups_external_id")
        batch_op.drop_index("uq_mirror_groups_name")
        batch_op.create_index("ix_mirror_groups_external_id", ["tenant_id", "external_id"])
        batch_op.create_index("ix_mirror_groups_name", ["tenant_id", "display_name_ci"])
