"""The full reconcile of one tenant: the same planner as the event worker, over every key.

It streams both sides in key order, a chunk at a time (never the whole tenant in
memory), in two passes: first it plans everything and counts the drift; then,
unless it is a dry run or the safety valve trips, it applies chunk by chunk
through the same apply path as events (each chunk re-planned against the state
at that moment, so a run killed half-way is simply run again). A chunk is a range
of keys, so the store can read it with index range scans; before the passes the
store refreshes stale planner statistics (after a bulk import, say), the one
write a dry run may make.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

from reconciler.apply import WorkspaceStore, apply_with_store, plan_keys
from reconciler.model import (
    Action,
    DeleteMember,
    DependsOn,
    MemberStatus,
    ResourceKey,
    RuleViolation,
    SetMemberStatus,
)

Kind = Literal["User", "Group"]
KINDS: tuple[Kind, ...] = ("User", "Group")
MAX_REPORTED_ACTIONS = 10_000


class ReconcileStore(WorkspaceStore, Protocol):
    def keys_after(self, tenant_id: str, kind: Kind, after: str | None, limit: int) -> list[str]:
        """The next ids in key order, from the mirror and the workspace links together."""

    def member_count(self, tenant_id: str) -> int:
        """All members of the workspace (the safety valve's denominator)."""

    def statistics_stale(self) -> bool:
        """Whether the database's planner statistics need a refresh before a pass."""

    def refresh_statistics(self) -> None:
        """Refresh them (in a writing store: SQLite's ANALYZE takes the writer's lock)."""


# open_store(write) -> a store inside its own transaction; write=False plans only.
OpenStore = Callable[[bool], AbstractContextManager[ReconcileStore]]
Progress = Callable[[str, int], None]


@dataclass
class ReconcileReport:
    tenant_id: str
    dry_run: bool
    outcome: str = "running"  # dry_run | applied | in_sync | halted
    counts: dict[str, int] = field(default_factory=dict)
    actions: list[dict[str, Any]] = field(default_factory=list)
    refused: dict[str, int] = field(default_factory=dict)
    destructive: int = 0
    members: int = 0
    keys_seen: int = 0
    duration_seconds: float = 0.0
    detail: str | None = None

    @property
    def drift(self) -> int:
        return sum(self.counts.values())


def is_destructive(action: Action) -> bool:
    """What the safety valve counts: members removed or switched off."""
    return isinstance(action, DeleteMember) or (
        isinstance(action, SetMemberStatus) and action.status == MemberStatus.DEACTIVATED
    )


DEFAULT_SAFETY_RATIO = 0.2


@dataclass(frozen=True)
class SafetyValve:
    """Stops a run that would deactivate or remove more than `ratio` of the workspace's
    members (a truncated IdP export, the wrong source) before anything is applied; the
    operator checks, then runs again with force. The one definition of the threshold:
    the full run checks its plan with it, a mirror repair its planned deletions."""

    ratio: float = DEFAULT_SAFETY_RATIO

    def trips(self, destructive: int, members: int) -> bool:
        return destructive > self.ratio * max(members, 1)

    def halt(self, report: ReconcileReport) -> None:
        report.outcome = "halted"
        report.detail = (
            f"{report.destructive} of {report.members} members would be deactivated or "
            f"removed (over {self.ratio:.0%}); nothing applied. Check the IdP, then run "
            f"again with --force if this is intended."
        )


def describe(action: Action) -> dict[str, Any]:
    return {
        "kind": action.kind,
        **{k: str(v) if v is not None else None for k, v in asdict(action).items()},
    }


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


def _plan_pass(
    open_store: OpenStore, report: ReconcileReport, chunk: int, progress: Progress | None
) -> None:
    counts: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    for store, keys in _chunks(open_store, report.tenant_id, chunk, write=False):
        plans = plan_keys(store, report.tenant_id, keys)
        for plan in plans.values():
            if isinstance(plan, RuleViolation):
                refused[plan.code] += 1
                continue
            if isinstance(plan, DependsOn):
                continue  # resolved when applied; not drift by itself
            for action in plan:
                counts[action.kind] += 1
                report.destructive += is_destructive(action)
                if len(report.actions) < MAX_REPORTED_ACTIONS:
                    report.actions.append(describe(action))
        report.keys_seen += len(keys)
        if progress:
            progress("plan", len(keys))
    report.counts, report.refused = dict(counts), dict(refused)


def _apply_pass(
    open_store: OpenStore, report: ReconcileReport, chunk: int, progress: Progress | None
) -> None:
    for store, keys in _chunks(open_store, report.tenant_id, chunk, write=True):
        apply_with_store(store, report.tenant_id, keys, actor="reconciler")
        if progress:
            progress("apply", len(keys))


def reconcile_tenant(
    open_store: OpenStore,
    tenant_id: str,
    *,
    dry_run: bool = False,
    force: bool = False,
    safety: SafetyValve = SafetyValve(),  # frozen: one shared default is safe
    chunk: int = 1000,
    progress: Progress | None = None,
) -> ReconcileReport:
    started = time.monotonic()
    report = ReconcileReport(tenant_id=tenant_id, dry_run=dry_run)
    with open_store(False) as store:
        report.members = store.member_count(tenant_id)
        stale = store.statistics_stale()
    if stale:  # after a bulk import, say: planned blind, the pass's joins scan whole tables
        with open_store(True) as store:
            store.refresh_statistics()
    _plan_pass(open_store, report, chunk, progress)
    if dry_run:
        report.outcome = "dry_run"
    elif report.drift == 0:
        report.outcome = "in_sync"
    elif not force and safety.trips(report.destructive, report.members):
        safety.halt(report)
    else:
        _apply_pass(open_store, report, chunk, progress)
        report.outcome = "applied"
    report.duration_seconds = round(time.monotonic() - started, 3)
    return report
