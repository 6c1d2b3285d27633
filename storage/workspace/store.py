"""The workspace in SQL: `SqlWorkspaceStore` implements the core's `WorkspaceStore`
(reconciler/apply.py) over a Connection and never commits.

Loads live in snapshots.py, the set-based writes in member_writes.py and
group_writes.py; `apply` runs them in rule order and records one audit entry per
effective action, all in one statement (`storage.audit.record`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    delete,
)

from reconciler.apply import AppliedStats
from reconciler.model import (
    Action,
    CreateGroup,
    CreateInvitation,
    CreateMember,
    DeleteGroup,
    DeleteMember,
    LinkMember,
    RecordRefusal,
    RenameGroup,
    ResourceKey,
    SetMemberStatus,
    SyncGroupMembers,
    SyncUserMemberships,
    UnlinkGroup,
    UnlinkMember,
    UpdateMemberProfile,
    action_target,
)
from storage.audit import AuditEntry, record
from storage.bulk import insert_rows
from storage.schema import applied_versions
from storage.sql import one_of
from storage.workspace.group_writes import GroupWrites
from storage.workspace.member_writes import MemberWrites
from storage.workspace.mirror_tables import MIRROR, MirrorTables
from storage.workspace.rows import (
    as_detail,
    chunks,
)
from storage.workspace.snapshots import SnapshotLoads
from storage.workspace.statistics import refresh_statistics


class SqlWorkspaceStore(SnapshotLoads, MemberWrites, GroupWrites):
    """`reconciler.apply.WorkspaceStore` over a Connection; never commits."""

    def __init__(
        self, conn: Connection, *, lock_tenant: bool = True, mirror: MirrorTables = MIRROR
    ):
        super().__init__(conn, lock_tenant=lock_tenant, mirror=mirror)

    # --- loads ------------------------------------------------------------------------

    # --- applies ------------------------------------------------------------------------

    def apply(self, tenant_id: str, actions: Sequence[Action], actor: str) -> AppliedStats:
        now = datetime.now(UTC)
        by_kind: dict[type, list[Any]] = {}
        for action in actions:
            by_kind.setdefault(type(action), []).append(action)
        stats = AppliedStats()
        entries: list[AuditEntry] = []
        # The membership syncs join the members and groups created just before them, and
        # each row they insert has its foreign keys checked against those: with statistics
        # from before the creates (a first import: none), every check scans the table.
        refresh = any(kind in by_kind for kind in _CREATES)
        for kind, handler in _HANDLERS.items():  # the order matters: see _HANDLERS
            if kind not in by_kind:
                continue
            if refresh and kind in _SYNCS:
                refresh_statistics(self.conn)
                refresh = False
            for action, extra in handler(self, tenant_id, by_kind[kind], now):
                stats.counts[action.kind] = stats.counts.get(action.kind, 0) + 1
                stats.memberships_added += extra.get("added", 0)
                stats.memberships_removed += extra.get("removed", 0)
                entries.append(
                    AuditEntry(
                        tenant_id,
                        actor,
                        action.kind,
                        action_target(action),
                        {**as_detail(action), **extra},
                        now,
                    )
                )
        record(self.conn, entries)  # one statement for the whole batch
        return stats

    def record_applied(self, tenant_id: str, applied: Sequence[tuple[ResourceKey, int]]) -> None:
        av = applied_versions
        now = datetime.now(UTC)
        for kind in ("User", "Group"):
            gone = [rid for (k, rid), version in applied if k == kind and version == 0]
            for chunk in chunks(gone):
                self.conn.execute(
                    delete(av).where(
                        av.c.tenant_id == tenant_id,
                        av.c.resource_type == kind,
                        one_of(self.conn, av.c.resource_id, chunk),
                    )
                )
        live = [
            {
                "tenant_id": tenant_id,
                "resource_type": k,
                "resource_id": rid,
                "version": version,
                "applied_at": now,
            }
            for (k, rid), version in dict(applied).items()
            if version > 0
        ]
        insert_rows(self.conn, av, live, update_on_conflict=("version", "applied_at"))


# Apply order: removals first (freeing emails and names), then links, creates and
# updates, then invitations, then the set-based membership syncs (which read the
# members and groups just written), and the refusals last (audit only).
_HANDLERS: dict[type, Any] = {
    DeleteGroup: SqlWorkspaceStore._delete_groups,
    DeleteMember: SqlWorkspaceStore._delete_members,
    UnlinkMember: SqlWorkspaceStore._unlink_members,
    LinkMember: SqlWorkspaceStore._link_members,
    CreateMember: SqlWorkspaceStore._create_members,
    SetMemberStatus: SqlWorkspaceStore._set_statuses,
    UpdateMemberProfile: SqlWorkspaceStore._update_profiles,
    CreateInvitation: SqlWorkspaceStore._create_invitations,
    CreateGroup: SqlWorkspaceStore._create_groups,
    RenameGroup: SqlWorkspaceStore._rename_groups,
    UnlinkGroup: SqlWorkspaceStore._unlink_groups,
    SyncUserMemberships: SqlWorkspaceStore._sync_users,
    SyncGroupMembers: SqlWorkspaceStore._sync_groups,
    RecordRefusal: SqlWorkspaceStore._refusals,
}
_CREATES = (CreateMember, CreateGroup)
_SYNCS = (SyncUserMemberships, SyncGroupMembers)
