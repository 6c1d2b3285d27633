"""Level-triggered apply: for each key, desired = mirror now, actual = workspace now; plan; apply.

Keys only say *which* resources to look at, so duplicates and reordering cannot
corrupt state: a key applied twice plans nothing the second time, and the
membership syncs are set-based against the current state, so Groups and Users
converge whichever is applied first.

A batch is planned in rounds against one snapshot each. Two keys touching the
same member, email or group-name family in one round would plan against a
state the other is changing, so the later one waits for the next round (a
fresh snapshot). A key whose plan `DependsOn` another key waits until that key
is applied. Keys that break a rule are returned in `ApplyOutcome.violations`
(the worker dead-letters their events) and the rest of the batch applies.
A tenant without SCIM enabled refuses every key (`scim_disabled`): late events
after an SSO removal must not re-link anyone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from reconciler import rules
from reconciler.ids import new_id
from reconciler.model import (
    Action,
    ApplyOutcome,
    DependsOn,
    GroupSnapshot,
    RecordRefusal,
    ResourceKey,
    RuleViolation,
    TenantPolicy,
    UserSnapshot,
)
from reconciler.planner import IdFactory, plan_group, plan_user


@dataclass
class AppliedStats:
    counts: dict[str, int] = field(default_factory=dict)
    memberships_added: int = 0
    memberships_removed: int = 0


class WorkspaceStore(Protocol):
    """What the orchestration needs from storage. Implementations never commit."""

    def load_policy(self, tenant_id: str) -> TenantPolicy | None:
        """The tenant's policy, locking the tenant against concurrent applies."""

    def load_users(self, tenant_id: str, scim_ids: Sequence[str]) -> dict[str, UserSnapshot]:
        """One snapshot per id (desired None when the mirror has no such user)."""

    def load_groups(self, tenant_id: str, scim_ids: Sequence[str]) -> dict[str, GroupSnapshot]:
        """One snapshot per id (desired None when the mirror has no such group)."""

    def apply(self, tenant_id: str, actions: Sequence[Action], actor: str) -> AppliedStats:
        """Apply the actions in bulk and write one audit row per effective action."""

    def record_applied(self, tenant_id: str, applied: Sequence[tuple[ResourceKey, int]]) -> None:
        """Upsert applied_versions; version 0 (deleted in the IdP) removes the row."""


Snapshot = UserSnapshot | GroupSnapshot


def apply_with_store(
    store: WorkspaceStore,
    tenant_id: str,
    keys: Sequence[ResourceKey],
    *,
    actor: str = "worker",
    make_id: IdFactory = new_id,
) -> ApplyOutcome:
    outcome = ApplyOutcome()
    pending: list[ResourceKey] = list(dict.fromkeys(keys))
    policy = store.load_policy(tenant_id)
    if policy is None or not policy.scim_enabled:
        outcome.violations = dict.fromkeys(pending, _tenant_refusal(tenant_id, policy))
        return outcome
    waiting: dict[ResourceKey, ResourceKey] = {}  # key -> the key it depends on
    admin_keys: set[ResourceKey] = set()
    while pending:
        outcome.rounds += 1
        pending = _apply_round(store, policy, pending, waiting, outcome, actor, make_id, admin_keys)
    if admin_keys:
        # The last-admin guard of one admin depends on the others: an admin kept active
        # because no other was, before another admin became active in this batch or in
        # an earlier one, is planned once more so that the batch ends where applying in
        # order would.
        pending = sorted(admin_keys | _held_admins(store, tenant_id, admin_keys))
        if len(pending) < 2:
            return outcome
        while pending:
            outcome.rounds += 1
            pending = _apply_round(store, policy, pending, waiting, outcome, actor, make_id, set())
        outcome.applied = list(dict(outcome.applied).items())
    return outcome


Plan = list[Action] | RuleViolation | DependsOn


def _held_admins(
    store: WorkspaceStore, tenant_id: str, admin_keys: set[ResourceKey]
) -> set[ResourceKey]:
    """The SCIM users of active admins whose IdP wants them inactive: kept active by the
    last-admin guard, which a newly active admin may have lifted."""
    held: set[ResourceKey] = set()
    for snapshot in store.load_users(tenant_id, [scim_id for _, scim_id in admin_keys]).values():
        held |= {
            ("User", seat.scim_user_id)
            for seat in snapshot.active_admins
            if not seat.idp_active and seat.scim_user_id is not None
        }
    return held


def plan_keys(
    store: WorkspaceStore, tenant_id: str, keys: Sequence[ResourceKey]
) -> dict[ResourceKey, Plan]:
    """Dry run for drift reports: each key planned against the current state, nothing applied."""
    return {key: plan for key, _, plan in plan_snapshots(store, tenant_id, keys)}


def plan_snapshots(
    store: WorkspaceStore, tenant_id: str, keys: Sequence[ResourceKey]
) -> list[tuple[ResourceKey, Snapshot | None, Plan]]:
    """Each key with the snapshot it was planned against (None: the tenant refused all)."""
    policy = store.load_policy(tenant_id)
    pending = list(dict.fromkeys(keys))
    if policy is None:
        return [(key, None, _tenant_refusal(tenant_id, policy)) for key in pending]
    planned: list[tuple[ResourceKey, Snapshot | None, Plan]] = []
    for key, snapshot in _load(store, tenant_id, pending).items():
        try:
            planned.append((key, snapshot, _plan(policy, snapshot, new_id)))
        except (RuleViolation, DependsOn) as refused:
            planned.append((key, snapshot, refused))
    return planned


def _tenant_refusal(tenant_id: str, policy: TenantPolicy | None) -> RuleViolation:
    if policy is None:
        return RuleViolation("unknown_tenant", f"no tenant {tenant_id}")
    return RuleViolation("scim_disabled", "SCIM is not enabled for this workspace")


def _apply_round(
    store: WorkspaceStore,
    policy: TenantPolicy,
    pending: list[ResourceKey],
    waiting: dict[ResourceKey, ResourceKey],
    outcome: ApplyOutcome,
    actor: str,
    make_id: IdFactory,
    admin_keys: set[ResourceKey],
) -> list[ResourceKey]:
    snapshots = _load(store, policy.tenant_id, pending)
    claimed: set[tuple[str, str]] = set()
    first: list[ResourceKey] = []  # dependencies, applied before the keys waiting on them
    deferred: list[ResourceKey] = []
    actions: list[Action] = []
    applied: list[tuple[ResourceKey, int]] = []
    for key in pending:
        snapshot = snapshots[key]
        claims = _claims(policy, snapshot)
        if claims & claimed:
            deferred.append(key)
            continue
        try:
            planned = _plan(policy, snapshot, make_id)
        except DependsOn as dependency:
            if _depends_in_cycle(waiting, key, dependency.key) or _settled(outcome, dependency.key):
                outcome.violations[key] = RuleViolation(
                    "email_conflict", f"{key[0]} {key[1]}: its email is held by another user"
                )
            else:
                waiting[key] = dependency.key
                first.append(dependency.key)
                deferred.append(key)
            continue
        except RuleViolation as violation:
            outcome.violations[key] = violation
            continue
        claimed |= claims
        if ("admins", policy.tenant_id) in claims:
            admin_keys.add(key)
        actions += planned
        applied.append((key, _version(snapshot)))
    _apply(store, policy.tenant_id, actions, applied, outcome, actor)
    first = [key for key in first if not _settled(outcome, key)]
    return list(dict.fromkeys([*first, *deferred]))


def _load(
    store: WorkspaceStore, tenant_id: str, keys: list[ResourceKey]
) -> dict[ResourceKey, Snapshot]:
    users = store.load_users(tenant_id, [i for kind, i in keys if kind == "User"])
    groups = store.load_groups(tenant_id, [i for kind, i in keys if kind == "Group"])
    return {key: users[key[1]] if key[0] == "User" else groups[key[1]] for key in keys}


def _plan(policy: TenantPolicy, snapshot: Snapshot, make_id: IdFactory) -> list[Action]:
    if isinstance(snapshot, UserSnapshot):
        return plan_user(policy, snapshot, make_id)
    return plan_group(policy, snapshot, make_id)


def _claims(policy: TenantPolicy, snapshot: Snapshot) -> set[tuple[str, str]]:
    """What a key's plan may touch; two keys with a common claim never share a round.

    Keys of admins share one claim: each one's last-admin guard must see the others'
    deactivations, so two admins are never deactivated against one snapshot."""
    if isinstance(snapshot, GroupSnapshot):
        claims = {("scim_group", snapshot.scim_id)}
        if snapshot.actual is not None:
            claims.add(("group", snapshot.actual.id))
        if snapshot.desired is not None:
            claims.add(("name", rules.name_family(snapshot.desired.display_name)))
        return claims
    claims = {("scim_user", snapshot.scim_id)}
    for member in (snapshot.linked, snapshot.email_holder):
        if member is not None:
            claims |= {("member", member.id), ("email", member.email_ci)}
            if rules.is_admin(member, policy):
                claims.add(("admins", policy.tenant_id))
    if snapshot.desired is not None and snapshot.desired.email_ci:
        claims.add(("email", snapshot.desired.email_ci))
        if snapshot.desired.email_ci == policy.owner_email:
            claims.add(("admins", policy.tenant_id))
    return claims


def _depends_in_cycle(
    waiting: dict[ResourceKey, ResourceKey], key: ResourceKey, dependency: ResourceKey
) -> bool:
    seen = {key}
    current: ResourceKey | None = dependency
    while current is not None:
        if current in seen:
            return True
        seen.add(current)
        current = waiting.get(current)
    return False


def _settled(outcome: ApplyOutcome, key: ResourceKey) -> bool:
    """Already applied or refused in this call: waiting on it again would not help."""
    return key in outcome.violations or any(done == key for done, _ in outcome.applied)


def _version(snapshot: Snapshot) -> int:
    return snapshot.desired.version if snapshot.desired is not None else 0


def _apply(
    store: WorkspaceStore,
    tenant_id: str,
    actions: list[Action],
    applied: list[tuple[ResourceKey, int]],
    outcome: ApplyOutcome,
    actor: str,
) -> None:
    if actions:
        stats = store.apply(tenant_id, actions, actor)
        for kind, n in stats.counts.items():
            outcome.counts[kind] = outcome.counts.get(kind, 0) + n
        outcome.memberships_added += stats.memberships_added
        outcome.memberships_removed += stats.memberships_removed
        outcome.refusals += [a for a in actions if isinstance(a, RecordRefusal)]
    if applied:
        store.record_applied(tenant_id, applied)
        outcome.applied += applied
