"""The mirror as a reconcile run's source would leave it, for the run's plan only.

A run from a file or a SCIM directory first compares the source with the mirror; what
would change (new, changed and removed users and groups, each group's members) is kept
here under the run's id, and the workspace pass plans against the mirror seen through
these rows (storage/planned_mirror.py). So a dry run names the workspace's every
consequence, and the real run, planned the same way before it writes, names the same
items. Rows live as long as their run: cleared when it ends, or by the next run of the
tenant when a killed run left them.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Index, Integer, PrimaryKeyConstraint, String, Table

from storage.schema_base import BigId, Id, metadata

planned_users = Table(
    "planned_users",
    metadata,
    Column("run_id", BigId, nullable=False),
    Column("tenant_id", Id, nullable=False),
    Column("id", Id, nullable=False),
    Column("gone", Boolean, nullable=False, default=False),  # the source no longer has it
    Column("user_name", String(320), nullable=False),
    Column("user_name_ci", String(320), nullable=False),
    Column("display_name", String(320)),
    Column("given_name", String(200)),
    Column("family_name", String(200)),
    Column("formatted_name", String(320)),
    Column("email_ci", String(320)),
    Column("active", Boolean, nullable=False),
    Column("has_password", Boolean, nullable=False),
    Column("version", Integer, nullable=False),
    PrimaryKeyConstraint("run_id", "tenant_id", "id"),
    Index("ix_planned_users_email", "run_id", "tenant_id", "email_ci"),
)

planned_groups = Table(
    "planned_groups",
    metadata,
    Column("run_id", BigId, nullable=False),
    Column("tenant_id", Id, nullable=False),
    Column("id", Id, nullable=False),
    Column("gone", Boolean, nullable=False, default=False),
    Column("display_name", String(320), nullable=False),
    Column("display_name_ci", String(320), nullable=False),
    Column("version", Integer, nullable=False),
    PrimaryKeyConstraint("run_id", "tenant_id", "id"),
)

# Every member of each planned group (the group's whole list, not a difference).
planned_group_members = Table(
    "planned_group_members",
    metadata,
    Column("run_id", BigId, nullable=False),
    Column("tenant_id", Id, nullable=False),
    Column("group_id", Id, nullable=False),
    Column("member_id", Id, nullable=False),
    Column("member_type", String(10), nullable=False, default="User"),
    PrimaryKeyConstraint("run_id", "tenant_id", "group_id", "member_id"),
    Index("ix_planned_group_members_member", "run_id", "tenant_id", "member_id"),
)
