"""The fault tests' checker, in the spirit of Jepsen's queue checker.

Given the IdP's history (tests/chaos/history.py) and the tenant's final state
(tests/chaos/state.py) it reports:
- `lost`: a register whose value in the mirror or in the workspace is not one
  the acknowledged history allows, and is its initial value or an older
  overwritten value: an acknowledged write's effect is missing;
- `wrong`: a value nobody wrote (an effect from nowhere, a duplicated resource);
- `drift`: the workspace differs from what the rules derive from the mirror
  (tests/chaos/invariants.py), whatever the history;
- `pipeline`: pending or dead events, dead letters;
- `refused`: 4xx answers the workload gives no reason for (a valid write refused).
A clean run has all five empty.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.chaos.history import History, Outcome, Register, initial_value, possible_final_values
from tests.chaos.invariants import drift, is_scim_name, pipeline_problems
from tests.chaos.state import State

Observed = dict[Register, Any]


@dataclass
class Report:
    lost: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    drift: list[str] = field(default_factory=list)
    pipeline: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.wrong or self.drift or self.pipeline or self.refused)

    def describe(self, limit: int = 25) -> str:
        lines = [f"counts: {self.counts}"]
        for name in ("lost", "wrong", "drift", "pipeline", "refused"):
            items: list[str] = getattr(self, name)
            lines.append(f"{name}: {len(items)}")
            lines += [f"  {item}" for item in items[:limit]]
        return "\n".join(lines)


def observe_mirror(state: State, problems: list[str]) -> Observed:
    observed: Observed = {}
    user_ext = {u.id: u.external_id for u in state.users.values()}
    for user in state.users.values():
        ext = user.external_id or f"?{user.id}"
        observed[("user", ext, "exists")] = True
        observed[("user", ext, "active")] = user.active
        observed[("user", ext, "name")] = user.display_name
    for ext, groups in state.groups_by_external_id().items():
        if len(groups) > 1:
            problems.append(f"mirror: {len(groups)} groups with externalId {ext}")
        group = groups[0]
        observed[("group", ext, "exists")] = True
        observed[("group", ext, "name")] = group.display_name
        for member_id in group.member_ids:
            if member_id not in user_ext:
                problems.append(f"mirror: group {ext} lists {member_id}, which is no user")
                continue
            observed[("member", ext, user_ext[member_id] or f"?{member_id}")] = True
    return observed


def observe_workspace(state: State, history: History, problems: list[str]) -> Observed:
    logical = {scim_id: ext for ext, scim_id in history.scim_ids.items()}
    logical |= {u.id: u.external_id for u in state.users.values() if u.external_id}
    logical |= {g.id: g.external_id for g in state.groups.values() if g.external_id}
    user_of_member: dict[str, str] = {}
    observed: Observed = {}
    for member in state.members.values():
        if member.scim_user_id is None:
            continue
        ext = logical.get(member.scim_user_id, f"?{member.scim_user_id}")
        if ("user", ext, "exists") in observed:
            problems.append(f"workspace: two members linked to user {ext}")
        user_of_member[member.id] = ext
        observed[("user", ext, "exists")] = True
        observed[("user", ext, "active")] = member.status != "deactivated"
        observed[("user", ext, "name")] = member.display_name
    for group in state.workspace_groups.values():
        if group.scim_group_id is None:
            continue
        ext = logical.get(group.scim_group_id, f"?{group.scim_group_id}")
        if ("group", ext, "exists") in observed:
            problems.append(f"workspace: two groups linked to group {ext}")
        observed[("group", ext, "exists")] = True
        observed[("group", ext, "name")] = group.name
        for member_id in group.scim_member_ids:
            observed[("member", ext, user_of_member.get(member_id, f"?{member_id}"))] = True
    return observed


def _equal(observed: Any, candidate: Any) -> bool:
    return bool(observed == candidate)


def _relevant(observed: Observed, register: Register) -> bool:
    """Fields of a resource that is gone, or memberships of one, are not facts to check:
    whether the resource should be gone is its "exists" register's business."""
    if register[0] == "member":
        _, group, user = register
        return bool(
            observed.get(("group", group, "exists")) and observed.get(("user", user, "exists"))
        )
    return register[2] == "exists" or bool(observed.get((register[0], register[1], "exists")))


def compare(
    layer: str, observed: Observed, history: History, lost: list[str], wrong: list[str]
) -> None:
    """Each register's observed value must be a possible final value of the history."""
    writes = history.writes_by_register()
    for register in sorted(set(observed) | set(writes), key=repr):
        if not _relevant(observed, register):
            continue
        ops = writes.get(register, [])
        value = observed.get(register, initial_value(register))
        same: Callable[[Any, Any], bool] = _equal
        if layer == "workspace" and register[0] == "group" and register[2] == "name":
            same = is_scim_name
        candidates = possible_final_values(register, ops)
        if any(same(value, c) for c in candidates):
            continue
        line = (
            f"{layer}: {register} is {value!r}; the acknowledged history allows "
            f"{sorted(map(repr, candidates))}; last writes: "
            f"{'; '.join(str(op) for op in ops[-3:]) or 'none'}"
        )
        earlier = [initial_value(register), *(op.writes[register] for op in ops)]
        (lost if any(same(value, w) for w in earlier) else wrong).append(line)


# The refusals the workload provokes on purpose: (method, status) -> why it is expected.
EXPECTED_REFUSALS = {
    ("POST", 409): "a create sent twice: the resource exists",
    ("DELETE", 404): "a delete sent twice, or racing another delete",
    ("PATCH", 404): "a change racing the resource's delete",
}


def unexpected_refusals(history: History) -> list[str]:
    refused = []
    for op in history:
        if op.outcome is not Outcome.FAIL:
            continue
        method = op.description.split(" ", 1)[0]
        adds_members = any(r[0] == "member" and v is True for r, v in op.writes.items())
        if (method, op.status) in EXPECTED_REFUSALS or op.status == 429:
            continue  # 429: rate limited, nothing changed, the IdP sent it again
        if op.status == 400 and adds_members:
            continue  # one of the members was deleted meanwhile
        refused.append(str(op))
    return refused


def check(history: History, state: State, sso_domains: set[str]) -> Report:
    report = Report(
        counts={
            **history.summary(),
            "users": len(state.users),
            "groups": len(state.groups),
            "members": len(state.members),
            **{f"events_{k}": v for k, v in state.events_by_state.items()},
        }
    )
    mirror = observe_mirror(state, report.wrong)
    workspace = observe_workspace(state, history, report.wrong)
    compare("mirror", mirror, history, report.lost, report.wrong)
    compare("workspace", workspace, history, report.lost, report.wrong)
    report.drift = drift(state, sso_domains)
    report.pipeline = pipeline_problems(state)
    report.refused = unexpected_refusals(history)
    return report
