"""The SQL schema: tenants, the IdP mirror, the event log, the workspace, operations.

Every table carries `tenant_id` first in its keys so the schema shards by tenant
(docs/architecture.md §8). Core tables rather than ORM classes: the hot paths are
set-based statements and streaming selects.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKeyConstraint,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)

from storage.event_state import EventState
from storage.schema_base import BigId, Id, Timestamp, metadata
from storage.schema_ops import pipeline_samples as pipeline_samples
from storage.schema_planned import planned_group_members as planned_group_members
from storage.schema_planned import planned_groups as planned_groups
from storage.schema_planned import planned_users as planned_users

# The shared MetaData and column types live in storage/schema_base.py; the operations
# tables (pipeline samples) in storage/schema_ops.py, a run's planned mirror in
# storage/schema_planned.py. All are re-exported here.

# --- tenants and credentials -------------------------------------------------

tenants = Table(
    "tenants",
    metadata,
    Column("id", Id, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("idp", String(20), nullable=False, default="generic"),
    Column("sso_domains", JSON, nullable=False, default=list),
    Column("sso_provider", String(200)),
    Column("sso_configured", Boolean, nullable=False, default=False),
    Column("scim_enabled", Boolean, nullable=False, default=False),
    Column("owner_email", String(320)),
    Column("options", JSON, nullable=False, default=dict),
    Column("created_at", Timestamp, nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Id, primary_key=True),
    Column("tenant_id", Id),  # NULL for the global operator token
    Column("kind", String(20), nullable=False),  # scim|admin|webhook|okta_hook|operator
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("secret", String(128)),  # pre-0009 clear signing keys: `db upgrade` seals them
    Column("sealed_secret", String(512)),  # a signing key, encrypted (storage/sealed.py)
    Column("created_at", Timestamp, nullable=False),
    Column("revoked_at", Timestamp),
    Index("ix_api_tokens_tenant_kind", "tenant_id", "kind"),
)

# --- the mirror: what the IdP asserts ------------------------------------------

mirror_users = Table(
    "mirror_users",
    metadata,
    Column("tenant_id", Id, primary_key=True),
    Column("id", Id, primary_key=True),
    Column("user_name", String(320), nullable=False),
    Column("user_name_ci", String(320), nullable=False),
    Column("external_id", String(320)),
    Column("display_name", String(320)),
    Column("given_name", String(200)),
    Column("family_name", String(200)),
    Column("formatted_name", String(320)),  # name.formatted
    Column("email_ci", String(320)),  # the rule-2 email, lower-cased; NULL when none
    Column("active", Boolean, nullable=False, default=True),
    Column("has_password", Boolean, nullable=False, default=False),
    Column("version", Integer, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Column("resource", JSON, nullable=False),  # SCIM body without meta and password
    UniqueConstraint("tenant_id", "user_name_ci"),
    # Unique like userName: a retried create must meet 409, not make a second user.
    Index("uq_mirror_users_external_id", "tenant_id", "external_id", unique=True),
    Index("ix_mirror_users_email", "tenant_id", "email_ci"),
)
# `displayName eq` on /Users compares lower(display_name) (not caseExact, no folded copy
# stored): an expression index, so that lookup is not a scan of the tenant's users.
Index(
    "ix_mirror_users_display_name",
    mirror_users.c.tenant_id,
    func.lower(mirror_users.c.display_name),
)

# Multi-valued attributes of users (emails, phoneNumbers, ...), one row per value,
# so that filters such as emails[type eq "work"].value compile to indexed SQL.
mirror_user_values = Table(
    "mirror_user_values",
    metadata,
    Column("tenant_id", Id, nullable=False),
    Column("user_id", Id, nullable=False),
    Column("attr", String(40), nullable=False),
    Column("position", Integer, nullable=False),
    Column("value", Text),
    Column("value_ci", Text),
    Column("type", String(100)),
    Column("display", String(320)),
    Column("primary", Boolean, nullable=False, default=False),
    ForeignKeyConstraint(
        ["tenant_id", "user_id"], ["mirror_users.tenant_id", "mirror_users.id"], ondelete="CASCADE"
    ),
    Index("ix_mirror_user_values_user", "tenant_id", "user_id"),
    Index("ix_mirror_user_values_lookup", "tenant_id", "attr", "value_ci"),
)

mirror_groups = Table(
    "mirror_groups",
    metadata,
    Column("tenant_id", Id, primary_key=True),
    Column("id", Id, primary_key=True),
    Column("display_name", String(320), nullable=False),
    Column("display_name_ci", String(320), nullable=False),
    Column("external_id", String(320)),
    Column("version", Integer, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Column("resource", JSON, nullable=False),  # SCIM body without meta and members
    # One group per name and per externalId in a tenant: a retried create answers 409
    # `uniqueness` (the IdP retries what it did not see answered), never a second group.
    Index("uq_mirror_groups_name", "tenant_id", "display_name_ci", unique=True),
    Index("uq_mirror_groups_external_id", "tenant_id", "external_id", unique=True),
)

# Group membership, set-based: one row per member.
mirror_group_members = Table(
    "mirror_group_members",
    metadata,
    Column("tenant_id", Id, primary_key=True),
    Column("group_id", Id, primary_key=True),
    Column("member_id", Id, primary_key=True),
    Column("member_type", String(10), nullable=False, default="User"),
    ForeignKeyConstraint(
        ["tenant_id", "group_id"],
        ["mirror_groups.tenant_id", "mirror_groups.id"],
        ondelete="CASCADE",
    ),
    Index("ix_mirror_group_members_member", "tenant_id", "member_id"),
)

# --- the event log (transactional outbox) -------------------------------------

change_events = Table(
    "change_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("tenant_id", Id, nullable=False),
    Column("resource_type", String(10), nullable=False),  # User | Group
    Column("resource_id", Id, nullable=False),
    Column("version", Integer, nullable=False),
    Column("operation", String(20), nullable=False),  # create | replace | patch | delete
    Column("source", String(20), nullable=False, default="scim"),  # scim | webhook | reconcile
    Column("payload", JSON, nullable=False),
    Column("received_at", Timestamp, nullable=False),
    Column("published_at", Timestamp),
    Column("applied_at", Timestamp),
    Column("state", String(10), nullable=False, default=EventState.PENDING),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Index("ix_change_events_pending", "tenant_id", "state", "id"),
    Index("ix_change_events_unpublished", "published_at", "state"),
    Index("ix_change_events_applied_at", "applied_at"),
    Index("ix_change_events_resource", "tenant_id", "resource_type", "resource_id", "id"),
)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("tenant_id", Id, nullable=False),
    Column("event_id", BigInteger, nullable=False),
    Column("resource_type", String(10), nullable=False),
    Column("resource_id", Id, nullable=False),
    Column("reason", Text, nullable=False),
    Column("error_code", String(40), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("first_failed_at", Timestamp, nullable=False),
    Column("last_failed_at", Timestamp, nullable=False),
    Index("ix_dead_letters_tenant", "tenant_id", "id"),
    Index("ix_dead_letters_resource", "tenant_id", "resource_type", "resource_id"),
)

# Which mirror version the workspace reflects, per resource.
applied_versions = Table(
    "applied_versions",
    metadata,
    Column("tenant_id", Id, primary_key=True),
    Column("resource_type", String(10), primary_key=True),
    Column("resource_id", Id, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("applied_at", Timestamp, nullable=False),
)

# Webhook deliveries seen (a replay has no effect), kept for the replay window only.
webhook_receipts = Table(
    "webhook_receipts",
    metadata,
    Column("tenant_id", Id, primary_key=True),
    Column("event_id", String(200), primary_key=True),
    Column("received_at", Timestamp, nullable=False),
    Index("ix_webhook_receipts_received_at", "received_at"),
)

# --- the workspace -----------------------------------------------------------

members = Table(
    "members",
    metadata,
    Column("tenant_id", Id, primary_key=True),
    Column("id", Id, primary_key=True),
    Column("email", String(320), nullable=False),
    Column("email_ci", String(320), nullable=False),
    Column("display_name", String(320)),
    Column("status", String(12), nullable=False),  # active | pending | deactivated
    Column("status_before_deactivation", String(12)),
    Column("role", String(10), nullable=False, default="member"),  # owner | admin | member
    Column("has_password", Boolean, nullable=False, default=False),
    Column("password_hash", String(200)),  # argon2, set by accepting an invitation
    Column("scim_user_id", Id),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    UniqueConstraint("tenant_id", "email_ci"),
    Index("ix_members_scim_user", "tenant_id", "scim_user_id"),
    Index("ix_members_status", "tenant_id", "status"),
)

workspace_groups = Table(
    "workspace_groups",
    metadata,
    Column("tenant_id", Id, primary_key=True),
    Column("id", Id, primary_key=True),
    Column("name", String(400), nullable=False),
    Column("name_ci", String(400), nullable=False),
    Column("scim_group_id", Id),  # set: SCIM-managed
    Column("created_at", Timestamp, nullable=False),
    UniqueConstraint("tenant_id", "name_ci"),
    Index("ix_workspace_groups_scim_group", "tenant_id", "scim_group_id"),
)

group_memberships = Table(
    "group_memberships",
    metadata,
    Column("tenant_id", Id, primary_key=True),
    Column("group_id", Id, primary_key=True),
    Column("member_id", Id, primary_key=True),
    Column("source", String(10), nullable=False),  # scim | native
    Column("created_at", Timestamp, nullable=False),
    ForeignKeyConstraint(
        ["tenant_id", "group_id"],
        ["workspace_groups.tenant_id", "workspace_groups.id"],
        ondelete="CASCADE",
    ),
    ForeignKeyConstraint(
        ["tenant_id", "member_id"], ["members.tenant_id", "members.id"], ondelete="CASCADE"
    ),
    Index("ix_group_memberships_member", "tenant_id", "member_id"),
)

group_permissions = Table(
    "group_permissions",
    metadata,
    Column("tenant_id", Id, primary_key=True),
    Column("group_id", Id, primary_key=True),
    Column("path", String(1000), primary_key=True),
    Column("access", String(10), nullable=False),  # read | write | admin
    ForeignKeyConstraint(
        ["tenant_id", "group_id"],
        ["workspace_groups.tenant_id", "workspace_groups.id"],
        ondelete="CASCADE",
    ),
)

invitations = Table(
    "invitations",
    metadata,
    Column("tenant_id", Id, primary_key=True),
    Column("id", Id, primary_key=True),
    Column("member_id", Id, nullable=False),
    Column("email", String(320), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("accepted_at", Timestamp),
    # The link: only the SHA-256 of its token is kept; each send replaces it.
    Column("token_hash", String(64)),
    Column("sent_at", Timestamp),
    Column("expires_at", Timestamp),
    Column("revoked_at", Timestamp),
    Column("sends", Integer, nullable=False, default=0),
    Index("ix_invitations_member", "tenant_id", "member_id"),
    Index("ix_invitations_token", "token_hash", unique=True),
)

# --- operations --------------------------------------------------------------

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("tenant_id", Id),
    Column("actor", String(100), nullable=False),  # token id, "worker", "reconciler", "cli"
    Column("action", String(60), nullable=False),
    Column("target", String(200)),
    Column("detail", JSON, nullable=False, default=dict),
    Column("at", Timestamp, nullable=False),
    Column("event_id", BigInteger),  # the change event an ingest row records; NULL otherwise
    Index("ix_audit_log_tenant", "tenant_id", "id"),
    Index("ix_audit_log_target", "tenant_id", "target", "id"),
    Index("ix_audit_log_event", "tenant_id", "event_id"),
)

# Which users a group write touched (members added or removed), so that a person's
# timeline finds the group requests that moved them without reading JSON payloads.
# Written by the ingest in one statement per request; purged with the events.
trace_refs = Table(
    "trace_refs",
    metadata,
    Column("tenant_id", Id, primary_key=True),
    Column("subject_id", Id, primary_key=True),  # the SCIM user's id
    Column("event_id", BigInteger, primary_key=True),  # the group's change event
    Column("change", String(6), nullable=False),  # joined | left
    Index("ix_trace_refs_event", "event_id"),
)

reconcile_runs = Table(
    "reconcile_runs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("tenant_id", Id, nullable=False),
    Column("source", String(400), nullable=False),
    Column("dry_run", Boolean, nullable=False),
    Column("forced", Boolean, nullable=False, default=False),
    Column("outcome", String(20), nullable=False),  # running | applied | dry_run | halted | failed
    Column("counts", JSON, nullable=False, default=dict),
    Column("actions", JSON, nullable=False, default=list),
    Column("error", Text),
    Column("started_at", Timestamp, nullable=False),
    Column("finished_at", Timestamp),
    Column("duration_seconds", JSON),
    Column("item_count", Integer, nullable=False, default=0, server_default="0"),
    Column("destructive", Integer, nullable=False, default=0, server_default="0"),
    Column("members", Integer),
    Index("ix_reconcile_runs_tenant", "tenant_id", "id"),
)

# Drift items (reconciler/drift.py), kept with their run; by tenant + SCIM id/name for timelines.
reconcile_items = Table(
    "reconcile_items",
    metadata,
    Column("run_id", BigId, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("tenant_id", Id, nullable=False),
    Column("kind", String(30), nullable=False),
    Column("resource_type", String(10), nullable=False),
    Column("scim_id", String(200), nullable=False),
    Column("name", String(400)),
    Column("name_ci", String(400)),
    Column("before", JSON, nullable=False, default=dict),
    Column("after", JSON, nullable=False, default=dict),
    Column("consequence", Text, nullable=False),
    Column("destructive", Boolean, nullable=False, default=False),
    PrimaryKeyConstraint("run_id", "seq"),
    Index("ix_reconcile_items_run_kind", "run_id", "kind", "seq"),
    Index("ix_reconcile_items_tenant_scim", "tenant_id", "scim_id"),
    Index("ix_reconcile_items_tenant_name", "tenant_id", "name_ci"),
)

# What a file/SCIM source holds per tenant, with a body fingerprint (storage/source_keys.py).
reconcile_source_keys = Table(
    "reconcile_source_keys",
    metadata,
    Column("tenant_id", Id, nullable=False),
    Column("resource_type", String(10), nullable=False),
    Column("key_ci", String(400), nullable=False),
    Column("source_id", String(200), nullable=False),
    Column("our_id", Id),
    Column("digest", String(64)),
    Column("mirror_version", Integer),
    Column("seen_run", BigId, nullable=False),
    PrimaryKeyConstraint("tenant_id", "resource_type", "key_ci"),
    Index("ix_reconcile_source_keys_source", "tenant_id", "resource_type", "source_id"),
)
