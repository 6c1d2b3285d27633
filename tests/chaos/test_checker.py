"""The fault tests' checker must catch what it exists to catch (fast, no processes)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from storage.event_state import EventState
from tests.chaos.checker import check
from tests.chaos.history import History, Op, Outcome, Register, possible_final_values
from tests.chaos.state import Member, MirrorGroup, MirrorUser, State, WorkspaceGroup

DOMAINS = {"acme.test"}


def _op(
    index: int,
    writes: dict[Register, Any],
    start: float,
    end: float,
    outcome: Outcome = Outcome.OK,
    answered: bool = True,
) -> Op:
    return Op(index, "t", "test", writes, start, end, outcome, 200, answered)


def _world(users: dict[str, bool], groups: dict[str, list[str]]) -> tuple[History, State]:
    """An acknowledged history (create users, then groups) and the state it should leave."""
    history, state = History(), State(events_by_state={EventState.APPLIED: 1})
    for n, (user, active) in enumerate(users.items()):
        writes: dict[Register, Any] = {
            ("user", user, "exists"): True,
            ("user", user, "active"): active,
            ("user", user, "name"): user.upper(),
        }
        history.ops.append(_op(len(history.ops), writes, n, n + 0.5))
        history.scim_ids[user] = f"s-{user}"
        state.users[f"s-{user}"] = MirrorUser(
            f"s-{user}", f"{user}@acme.test", user, f"{user}@acme.test", active, user.upper(), 1
        )
        state.members[f"m-{user}"] = Member(
            f"m-{user}",
            f"{user}@acme.test",
            "active" if active else "deactivated",
            user.upper(),
            f"s-{user}",
            "member",
        )
        state.applied_versions[("User", f"s-{user}")] = 1
    for n, (group, group_members) in enumerate(groups.items(), start=100):
        group_writes: dict[Register, Any] = {
            ("group", group, "exists"): True,
            ("group", group, "name"): group,
        }
        group_writes |= {("member", group, user): True for user in group_members}
        history.ops.append(_op(len(history.ops), group_writes, n, n + 0.5))
        state.groups[f"s-{group}"] = MirrorGroup(
            f"s-{group}", group, group, 1, frozenset(f"s-{u}" for u in group_members)
        )
        state.workspace_groups[f"w-{group}"] = WorkspaceGroup(
            f"w-{group}",
            f"{group} (SCIM)",
            f"s-{group}",
            frozenset(f"m-{u}" for u in group_members),
            frozenset(),
        )
        state.applied_versions[("Group", f"s-{group}")] = 1
    return history, state


def test_a_consistent_run_passes() -> None:
    history, state = _world({"ann": True, "bob": False}, {"eng": ["ann", "bob"]})
    report = check(history, state, DOMAINS)
    assert report.ok, report.describe()


def test_an_applied_membership_that_disappears_is_reported_lost() -> None:
    history, state = _world({"ann": True, "bob": True}, {"eng": ["ann", "bob"]})
    group = state.workspace_groups["w-eng"]
    state.workspace_groups["w-eng"] = replace(group, scim_member_ids=frozenset({"m-ann"}))
    report = check(history, state, DOMAINS)
    assert report.lost == [line for line in report.lost if "('member', 'eng', 'bob')" in line]
    assert len(report.lost) == 1 and report.drift and not report.wrong


def test_a_user_missing_from_the_mirror_and_workspace_is_lost_twice() -> None:
    history, state = _world({"ann": True, "bob": True}, {})
    del state.users["s-bob"], state.members["m-bob"], state.applied_versions[("User", "s-bob")]
    report = check(history, state, DOMAINS)
    assert [line.split(":")[0] for line in report.lost] == ["mirror", "workspace"]


def test_an_older_write_winning_is_reported_lost() -> None:
    history, state = _world({"ann": True}, {})
    history.ops.append(_op(9, {("user", "ann", "active"): False}, 10, 11))
    history.ops.append(_op(10, {("user", "ann", "active"): True}, 12, 13))
    state.users["s-ann"] = replace(state.users["s-ann"], active=False)
    state.members["m-ann"] = replace(state.members["m-ann"], status="deactivated")
    report = check(history, state, DOMAINS)
    assert len(report.lost) == 2 and not report.drift


def test_an_effect_of_a_refused_write_is_wrong() -> None:
    history, state = _world({"ann": True}, {})
    history.ops.append(_op(9, {("user", "ann", "name"): "EVE"}, 10, 11, Outcome.FAIL))
    state.users["s-ann"] = replace(state.users["s-ann"], display_name="EVE")
    state.members["m-ann"] = replace(state.members["m-ann"], display_name="EVE")
    report = check(history, state, DOMAINS)
    assert len(report.wrong) == 2 and not report.lost


def test_a_member_the_mirror_does_not_justify_is_drift() -> None:
    history, state = _world({"ann": True}, {})
    state.members["m-ann"] = replace(state.members["m-ann"], status="pending")
    state.members["m-eve"] = Member("m-eve", "eve@acme.test", "active", None, "s-ghost", "member")
    report = check(history, state, DOMAINS)
    assert len(report.drift) == 2 and any("ghost" in w or "?s-ghost" in w for w in report.wrong)


def test_pending_events_and_dead_letters_fail_the_run() -> None:
    history, state = _world({"ann": True}, {})
    state.events_by_state = {EventState.APPLIED: 3, EventState.PENDING: 2}
    state.dead_letters = [
        {"resource_type": "User", "resource_id": "x", "error_code": "boom", "reason": "it broke"}
    ]
    report = check(history, state, DOMAINS)
    assert report.pipeline == ["2 pending events", "dead letter: User x boom it broke"]


def test_concurrent_writes_allow_either_value_but_a_later_one_wins() -> None:
    register = ("user", "ann", "active")
    overlapping = [_op(0, {register: True}, 0, 2), _op(1, {register: False}, 1, 3)]
    assert possible_final_values(register, overlapping) == {True, False}
    sequential = [_op(0, {register: True}, 0, 1), _op(1, {register: False}, 2, 3)]
    assert possible_final_values(register, sequential) == {False}


def test_an_ambiguous_write_may_or_may_not_have_happened() -> None:
    register = ("user", "ann", "active")
    timed_out = [
        _op(0, {register: True}, 0, 1),
        _op(1, {register: False}, 2, 3, Outcome.INFO, answered=False),
        _op(2, {register: True}, 4, 5),
    ]
    assert possible_final_values(register, timed_out) == {True, False}
    answered_5xx = [*timed_out[:1], replace(timed_out[1], server_answered=True), timed_out[2]]
    assert possible_final_values(register, answered_5xx) == {True}
    membership = ("member", "g", "u")
    only_ambiguous = [_op(0, {membership: True}, 0, 1, Outcome.INFO, answered=True)]
    assert possible_final_values(membership, only_ambiguous) == {True, False}


@given(st.lists(st.tuples(st.booleans(), st.sampled_from(list(Outcome))), min_size=1))
def test_sequential_history_allows_the_last_ack_and_later_ambiguous_writes(
    writes: list[tuple[bool, Outcome]],
) -> None:
    register = ("user", "ann", "active")
    ops = [
        _op(i, {register: value}, 2 * i, 2 * i + 1, outcome, answered=True)
        for i, (value, outcome) in enumerate(writes)
        if outcome is not Outcome.FAIL
    ]
    acked = [i for i, op in enumerate(ops) if op.outcome is Outcome.OK]
    tail = ops[acked[-1] :] if acked else ops
    expected = {op.writes[register] for op in tail} | (set() if acked else {None})
    assert possible_final_values(register, ops) == expected


def test_a_valid_write_refused_is_reported_but_provoked_refusals_are_not() -> None:
    history, state = _world({"ann": True}, {"eng": ["ann"]})
    duplicate = _op(9, {("user", "bob", "exists"): True}, 10, 11, Outcome.FAIL)
    duplicate.description, duplicate.status = "POST /Users bob", 409
    gone_member = _op(10, {("member", "eng", "bob"): True}, 12, 13, Outcome.FAIL)
    gone_member.description, gone_member.status = "PATCH eng add ['bob']", 400
    bad_rename = _op(11, {("user", "ann", "name"): "ANN"}, 14, 15, Outcome.FAIL)
    bad_rename.description, bad_rename.status = "PATCH ann name=ANN", 400
    history.ops += [duplicate, gone_member, bad_rename]
    report = check(history, state, DOMAINS)
    assert report.refused == [str(bad_rename)] and not report.ok
