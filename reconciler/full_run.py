"""The full reconcile of one tenant: the same planner as the event worker, over every key.

It streams both sides in key order, a chunk at a time (never the whole tenant in
memory), in two passes: first it plans everything and hands each chunk's drift items
(reconciler/drift.py) to a sink that stores them, keeping only counts; then, unless it is
a dry run or the safety valve trips, it applies chunk by chunk through the same apply
path as events (each chunk re-planned against the state at that moment, so a run killed
half-way is simply run again). Before each write the run's lease is checked (`fence`):
a run that lost its lease stops instead of interleaving with the run that took it over.
A chunk is a range of keys, so the store can read it with index range scans; before the
passes the store refreshes stale planner statistics (after a bulk import, say), the one
write a dry run may make.

A run from a source (a file, a SCIM directory) has compared it with the mirror first:
the plan pass then reads the mirror as the source would leave it, and the source's
writes to the mirror come after the safety valve, just before the apply pass. A dry run
and the real run that follows plan the same state, so they list the same items.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal, Protocol, TypeGuard

from reconciler.apply import WorkspaceStore, apply_with_store, plan_snapshots
from reconciler.drift import (
    DriftItem,
    ItemKind,
    MembershipChange,
    group_items,
    membership_item,
    refused_item,
    user_items,
)
from reconciler.model import (
    Action,
    DeleteMember,
    DependsOn,
    GroupSnapshot,
    MemberStatus,
    ResourceKey,
    RuleViolation,
    SetMemberStatus,
    SyncGroupMembers,
    UserSnapshot,
)

Kind = Literal["User", "Group"]
KINDS: tuple[Kind, ...] = ("User", "Group")


class Outcome(StrEnum):
    """What a run did; a script reads it (and the CLI's exit code, worker/cli/reconcile.py)."""

    RUNNING = "running"
    IN_SYNC = "in_sync"  # nothing to do
    DRIFT_FOUND = "drift_found"  # a dry run found drift
    REPAIRED = "repaired"  # drift applied
    IMPORTED = "imported"  # a source filled an empty mirror (a first import)
    HALTED = "halted"  # the safety valve stopped it; nothing applied
    FAILED = "failed"


SUCCESSFUL = frozenset({Outcome.IN_SYNC, Outcome.DRIFT_FOUND, Outcome.REPAIRED, Outcome.IMPORTED})


class ReconcileStore(WorkspaceStore, Protocol):
    def keys_after(self, tenant_id: str, kind: Kind, after: str | None, limit: int) -> list[str]:
        """The next ids in key order, from the mirror and the workspace links together."""

    def member_count(self, tenant_id: str) -> int:
        """All members of the workspace (the safety valve's denominator)."""

    def key_count(self, tenant_id: str) -> int:
        """About how many keys a pass reads (for progress; may overestimate)."""

    def group_counts(self, tenant_id: str, member_ids: Sequence[str]) -> dict[str, int]:
        """How many groups each of these members is in."""

    def membership_changes(
        self, tenant_id: str, group_scim_ids: Sequence[str]
    ) -> list[MembershipChange]:
        """The SCIM memberships of these groups a sync would add or remove."""

    def statistics_stale(self) -> bool:
        """Whether the database's planner statistics need a refresh before a pass."""

    def refresh_statistics(self) -> None:
        """Refresh them (in a writing store: SQLite's ANALYZE takes the writer's lock)."""


# open_store(write) -> a store inside its own transaction; write=False plans only.
OpenStore = Callable[[bool], AbstractContextManager[ReconcileStore]]
# progress(stage, keys done in this step, keys expected in the pass)
Progress = Callable[[str, int, int], None]
# Receives each chunk's items in order; the caller stores them (never all in memory).
ItemSink = Callable[[Sequence[DriftItem]], None]
# Called with the store of each write batch before it writes; raises when the run no
# longer holds its lease (the fencing check).
Fence = Callable[["ReconcileStore"], None]


@dataclass
class ReconcileReport:
    tenant_id: str
    dry_run: bool
    outcome: Outcome = Outcome.RUNNING
    counts: dict[str, int] = field(default_factory=dict)  # items by kind
    refused: dict[str, int] = field(default_factory=dict)
    destructive: int = 0
    members: int = 0
    keys_seen: int = 0
    duration_seconds: float = 0.0
    detail: str | None = None

    @property
    def drift(self) -> int:
        return sum(self.counts.values())

    def count(self, items: Sequence[DriftItem]) -> None:
        for item in items:
            self.counts[item.kind.value] = self.counts.get(item.kind.value, 0) + 1
            self.destructive += item.destructive


def is_destructive(action: Action) -> TypeGuard[DeleteMember | SetMemberStatus]:
    """What the safety valve counts: members removed or switched off."""
    return isinstance(action, DeleteMember) or (
        isinstance(action, SetMemberStatus) and action.status == MemberStatus.DEACTIVATED
    )


DEFAULT_SAFETY_RATIO = 0.2


@dataclass(frozen=True)
class SafetyValve:
    """Stops a run that would deactivate or remove more than `ratio` of the workspace's
    members (a truncated IdP export, the wrong source) before anything is applied; the
    operator reads the list of those members (the run's destructive items), then runs
    again with force. A run from a source is weighed the same way: its plan reads the
    mirror as the source would leave it, so what the source removes or deactivates is
    among the workspace's items, and nothing, the mirror included, is written first."""

    ratio: float = DEFAULT_SAFETY_RATIO

    def trips(self, destructive: int, members: int) -> bool:
        return destructive > self.ratio * max(members, 1)

    def halt(self, report: ReconcileReport) -> None:
        report.outcome = Outcome.HALTED
        report.detail = (
            f"{report.destructive} of {report.members} members would be deactivated or "
            f"removed (over {self.ratio:.0%}); nothing applied. The run's items list each "
            f"of them; check the IdP, then run again with --force if this is intended."
        )


def _chunks(
    open_store: OpenStore, tenant_id: str, chunk: int, *, write: bool
) -> Iterator[tuple[ReconcileStore, list[ResourceKey]]]:
    """Each chunk of keys with the store of its own transaction (read-only when planning,
    so planning never takes the writer's lock)."""
    for kind in KINDS:
        after: str | None = None
        while True:
            with open_store(write) as store:
                ids = store.keys_after(tenant_id, kind, after, chunk)
                if not ids:
                    break
                after = ids[-1]
                yield store, [(kind, i) for i in ids]


def chunk_items(store: ReconcileStore, tenant_id: str, keys: list[ResourceKey]) -> list[DriftItem]:
    """The drift items of one chunk, in key order; refused keys are items too."""
    planned = plan_snapshots(store, tenant_id, keys)
    touched = [
        a.member_id
        for _, _, plan in planned
        if isinstance(plan, list)
        for a in plan
        if is_destructive(a)
    ]
    groups = dict.fromkeys(touched, 0) | (store.group_counts(tenant_id, touched) if touched else {})
    synced = [
        snap.scim_id
        for _, snap, plan in planned
        if isinstance(snap, GroupSnapshot)
        and isinstance(plan, list)
        and any(isinstance(a, SyncGroupMembers) for a in plan)
    ]
    changes: dict[str, list[MembershipChange]] = {}
    for change in store.membership_changes(tenant_id, synced) if synced else []:
        changes.setdefault(change.group_scim_id, []).append(change)
    items: list[DriftItem] = []
    for (kind, scim_id), snap, plan in planned:
        if isinstance(plan, DependsOn):
            continue  # resolved when applied; not drift by itself
        if isinstance(plan, RuleViolation):
            name = None
            if isinstance(snap, UserSnapshot) and snap.desired is not None:
                name = snap.desired.email
            elif isinstance(snap, GroupSnapshot) and snap.desired is not None:
                name = snap.desired.display_name
            items.append(refused_item(kind, scim_id, name, plan))
        elif isinstance(snap, UserSnapshot):
            items += user_items(snap, plan, groups)
        elif isinstance(snap, GroupSnapshot):
            items += group_items(snap, plan)
            items += [membership_item(c) for c in changes.get(scim_id, [])]
    return items


def _plan_pass(
    open_store: OpenStore,
    report: ReconcileReport,
    chunk: int,
    sink: ItemSink,
    progress: Progress | None,
    total: int,
) -> None:
    for store, keys in _chunks(open_store, report.tenant_id, chunk, write=False):
        items = chunk_items(store, report.tenant_id, keys)
        for item in items:
            if item.kind is ItemKind.REFUSED:
                code = str(item.after.get("code"))
                report.refused[code] = report.refused.get(code, 0) + 1
        report.count(items)
        if items:
            sink(items)
        report.keys_seen += len(keys)
        if progress:
            progress("plan", len(keys), total)


def _apply_pass(
    open_store: OpenStore,
    report: ReconcileReport,
    chunk: int,
    fence: Fence | None,
    progress: Progress | None,
    total: int,
) -> None:
    for store, keys in _chunks(open_store, report.tenant_id, chunk, write=True):
        if fence:
            fence(store)  # inside the chunk's transaction, before its writes
        apply_with_store(store, report.tenant_id, keys, actor="reconciler")
        if progress:
            progress("apply", len(keys), total)


def reconcile_tenant(
    open_store: OpenStore,
    tenant_id: str,
    *,
    dry_run: bool = False,
    force: bool = False,
    safety: SafetyValve = SafetyValve(),  # frozen: one shared default is safe
    chunk: int = 1000,
    sink: ItemSink | None = None,
    fence: Fence | None = None,
    progress: Progress | None = None,
    report: ReconcileReport | None = None,
    write_mirror: Callable[[], object] | None = None,
) -> ReconcileReport:
    """Plan (items to `sink`), then apply unless dry, halted or in sync. `report` may carry
    what a source's mirror repair already counted; then `open_store(False)` reads the
    mirror as the source would leave it, and `write_mirror` writes the source's changes
    to the mirror, after the safety valve and before the workspace is applied."""
    started = time.monotonic()
    report = report or ReconcileReport(tenant_id=tenant_id, dry_run=dry_run)
    with open_store(False) as store:
        report.members = store.member_count(tenant_id)
        total = store.key_count(tenant_id)
        stale = store.statistics_stale()
    if stale:  # after a bulk import, say: planned blind, the pass's joins scan whole tables
        with open_store(True) as store:
            store.refresh_statistics()
    workspace = ReconcileReport(tenant_id, dry_run, members=report.members)
    _plan_pass(open_store, workspace, chunk, sink or (lambda items: None), progress, total)
    for kind, n in workspace.counts.items():
        report.counts[kind] = report.counts.get(kind, 0) + n
    report.refused.update(workspace.refused)
    report.destructive += workspace.destructive
    report.keys_seen = workspace.keys_seen
    if dry_run:
        report.outcome = Outcome.DRIFT_FOUND if report.drift else Outcome.IN_SYNC
    elif report.drift == 0:
        report.outcome = Outcome.IN_SYNC
    elif not force and safety.trips(workspace.destructive, report.members):
        safety.halt(report)
    else:
        if write_mirror is not None:
            write_mirror()
        if workspace.drift:
            _apply_pass(open_store, workspace, chunk, fence, progress, total)
        report.outcome = Outcome.REPAIRED
    report.duration_seconds = round(time.monotonic() - started, 3)
    return report
