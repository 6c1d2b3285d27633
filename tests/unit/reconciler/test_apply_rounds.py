"""The apply orchestration (reconciler/apply.py) against an in-memory store: rounds, claims,
dependencies, violations, and order independence for users."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hypothesis import given, note, settings
from hypothesis import strategies as st

from reconciler.apply import AppliedStats, apply_with_store, plan_keys
from reconciler.model import (
    Action,
    ActualMember,
    CreateMember,
    DeleteMember,
    DependsOn,
    DesiredUser,
    GroupSnapshot,
    LinkMember,
    MemberStatus,
    ResourceKey,
    RuleViolation,
    SetMemberStatus,
    SyncUserMemberships,
    TenantPolicy,
    UnlinkMember,
    UpdateMemberProfile,
    UserSnapshot,
)

POLICY = TenantPolicy(
    "t",
    sso_domains=frozenset({"acme.test"}),
    sso_configured=True,
    scim_enabled=True,
    owner_email="boss@acme.test",
)


@dataclass
class FakeStore:
    """Users only; applies the member actions in the SQL store's order and checks, like the
    database's unique index, that no two members share an email."""

    policy: TenantPolicy | None = POLICY
    mirror: dict[str, DesiredUser] = field(default_factory=dict)
    members: dict[str, ActualMember] = field(default_factory=dict)
    applied_batches: list[list[Action]] = field(default_factory=list)

    def load_policy(self, tenant_id: str) -> TenantPolicy | None:
        return self.policy

    def load_users(self, tenant_id: str, scim_ids: Sequence[str]) -> dict[str, UserSnapshot]:
        snapshots = {}
        for scim_id in scim_ids:
            want = self.mirror.get(scim_id)
            linked = next((m for m in self.members.values() if m.scim_user_id == scim_id), None)
            holder = next(
                (
                    m
                    for m in self.members.values()
                    if want and m.email_ci == want.email_ci and m != linked
                ),
                None,
            )
            owner_user = self.mirror.get(holder.scim_user_id or "") if holder else None
            released = bool(
                holder
                and holder.scim_user_id
                and (owner_user is None or owner_user.email_ci != holder.email_ci)
            )
            snapshots[scim_id] = UserSnapshot(scim_id, want, linked, holder, released)
        return snapshots

    def load_groups(self, tenant_id: str, scim_ids: Sequence[str]) -> dict[str, GroupSnapshot]:
        return {scim_id: GroupSnapshot(scim_id, None) for scim_id in scim_ids}

    def apply(self, tenant_id: str, actions: Sequence[Action], actor: str) -> AppliedStats:
        self.applied_batches.append(list(actions))
        order = [
            DeleteMember,
            UnlinkMember,
            LinkMember,
            CreateMember,
            SetMemberStatus,
            UpdateMemberProfile,
        ]
        stats = AppliedStats()
        for kind in order:
            for action in (a for a in actions if isinstance(a, kind)):
                self._apply_one(action)
                stats.counts[action.kind] = stats.counts.get(action.kind, 0) + 1
        emails = [m.email_ci for m in self.members.values()]
        assert len(emails) == len(set(emails)), "unique email index violated"
        return stats

    def _apply_one(self, action: Any) -> None:
        if isinstance(action, DeleteMember):
            del self.members[action.member_id]
        elif isinstance(action, CreateMember):
            self.members[action.member_id] = ActualMember(
                action.member_id,
                action.email,
                action.email.lower(),
                action.status,
                action.display_name,
                action.status_before_deactivation,
                scim_user_id=action.scim_user_id,
            )
        else:
            member = self.members[action.member_id]
            changes: dict[str, Any] = {}
            if isinstance(action, LinkMember | UnlinkMember):
                changes["scim_user_id"] = getattr(action, "scim_user_id", None)
            elif isinstance(action, SetMemberStatus):
                changes = {
                    "status": action.status,
                    "status_before_deactivation": action.status_before_deactivation,
                }
            elif isinstance(action, UpdateMemberProfile):
                changes = {
                    "email": action.email,
                    "email_ci": action.email.lower(),
                    "display_name": action.display_name,
                }
            self.members[action.member_id] = dataclasses.replace(member, **changes)

    def record_applied(self, tenant_id: str, applied: Sequence[tuple[ResourceKey, int]]) -> None:
        pass

    def state(self) -> set[tuple[object, ...]]:
        """The workspace as a person would see it (member ids are arbitrary)."""
        return {
            (m.email_ci, m.status, m.status_before_deactivation, m.scim_user_id)
            for m in self.members.values()
        }


def user(scim_id: str, email: str, active: bool = True) -> DesiredUser:
    return DesiredUser(scim_id, email.lower(), email, None, active, False, 1)


def native(member_id: str, email: str, scim: str | None = None) -> ActualMember:
    return ActualMember(member_id, email, email, MemberStatus.ACTIVE, scim_user_id=scim)


def counter() -> Callable[[], str]:
    n = iter(range(10**6))
    return lambda: f"n{next(n)}"


def test_duplicate_keys_are_applied_once() -> None:
    store = FakeStore(mirror={"u1": user("u1", "a@acme.test")})
    outcome = apply_with_store(store, "t", [("User", "u1")] * 3)
    assert outcome.counts == {"create_member": 1}
    assert outcome.applied == [(("User", "u1"), 1)]
    assert apply_with_store(store, "t", [("User", "u1")]).counts == {}  # again: no drift


def test_keys_touching_one_email_are_applied_in_separate_rounds() -> None:
    # u1 gives up a@ (its member moves to b@); u2 arrives with a@ in the same batch.
    store = FakeStore(
        mirror={"u1": user("u1", "b@acme.test"), "u2": user("u2", "a@acme.test")},
        members={"m1": native("m1", "a@acme.test", scim="u1")},
    )
    outcome = apply_with_store(store, "t", [("User", "u1"), ("User", "u2")], make_id=counter())
    assert outcome.rounds == 2 and not outcome.violations
    assert store.state() == {
        ("a@acme.test", MemberStatus.ACTIVE, None, "u2"),
        ("b@acme.test", MemberStatus.ACTIVE, None, "u1"),
    }


def test_a_key_waits_for_the_user_releasing_its_email() -> None:
    # u2 is applied first but the member holding its email belongs to u1, deleted in the IdP.
    store = FakeStore(
        mirror={"u2": user("u2", "a@acme.test")},
        members={"m1": native("m1", "a@acme.test", scim="u1")},
    )
    outcome = apply_with_store(store, "t", [("User", "u2")], make_id=counter())
    assert not outcome.violations
    assert {key for key, _ in outcome.applied} == {("User", "u1"), ("User", "u2")}
    assert store.state() == {("a@acme.test", MemberStatus.ACTIVE, None, "u2")}
    assert "m1" not in store.members  # u1's member left; u2 got a fresh one


def test_an_email_swap_is_refused_for_both_users() -> None:
    store = FakeStore(
        mirror={"u1": user("u1", "b@acme.test"), "u2": user("u2", "a@acme.test")},
        members={
            "m1": native("m1", "a@acme.test", scim="u1"),
            "m2": native("m2", "b@acme.test", scim="u2"),
        },
    )
    outcome = apply_with_store(store, "t", [("User", "u1"), ("User", "u2")])
    assert {key: v.code for key, v in outcome.violations.items()} == {
        ("User", "u1"): "email_conflict",
        ("User", "u2"): "email_conflict",
    }
    assert store.applied_batches == []


def test_a_violation_does_not_stop_the_rest_of_the_batch() -> None:
    store = FakeStore(mirror={"bad": user("bad", "x@acme.test"), "ok": user("ok", "y@acme.test")})
    store.mirror["bad"] = dataclasses.replace(store.mirror["bad"], email_ci=None, email=None)
    outcome = apply_with_store(store, "t", [("User", "bad"), ("User", "ok")])
    assert list(outcome.violations) == [("User", "bad")]
    assert outcome.violations[("User", "bad")].code == "no_email"
    assert outcome.applied == [(("User", "ok"), 1)]


def test_a_tenant_without_scim_refuses_every_key() -> None:
    store = FakeStore(
        policy=dataclasses.replace(POLICY, scim_enabled=False),
        mirror={"u1": user("u1", "a@acme.test")},
    )
    outcome = apply_with_store(store, "t", [("User", "u1")])
    assert outcome.violations[("User", "u1")].code == "scim_disabled"
    assert store.members == {}
    unknown = apply_with_store(FakeStore(policy=None), "t", [("User", "u1")])
    assert unknown.violations[("User", "u1")].code == "unknown_tenant"


def test_plan_keys_reports_drift_without_applying() -> None:
    store = FakeStore(
        mirror={"u1": user("u1", "a@acme.test")},
        members={"m9": native("m9", "z@acme.test", scim="u9")},
    )
    plans = plan_keys(store, "t", [("User", "u1"), ("User", "u9")])
    created = plans[("User", "u1")]
    assert isinstance(created, list)
    assert [type(a) for a in created] == [CreateMember, SyncUserMemberships]
    assert plans[("User", "u9")] == [DeleteMember("m9", "z@acme.test")]
    assert store.applied_batches == []


# --- order independence ------------------------------------------------------------------

EMAILS = ["a@acme.test", "b@acme.test", "x@gmail.com", "boss@acme.test"]  # boss@: the Owner
USERS = [f"u{i}" for i in range(4)]


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[dict[str, DesiredUser], dict[str, ActualMember]]:
    """A workspace (members linked or native, in any status) and an IdP that moved on: users
    deleted, emails changed or moved to another user, users deactivated, new users. Every email
    is claimed at most once on each side."""
    emails = draw(st.permutations(EMAILS))
    members: dict[str, ActualMember] = {}
    for i, email in enumerate(emails[: draw(st.integers(0, len(EMAILS)))]):
        status = draw(st.sampled_from(list(MemberStatus)))
        before = MemberStatus.PENDING if status is MemberStatus.DEACTIVATED else None
        scim = f"u{i}" if draw(st.booleans()) else None
        members[f"m{i}"] = dataclasses.replace(
            native(f"m{i}", email, scim=scim), status=status, status_before_deactivation=before
        )
    targets = draw(st.permutations(EMAILS))
    mirror = {
        u: user(u, targets[i], draw(st.booleans()))
        for i, u in enumerate(USERS)
        if draw(st.integers(0, 3))
    }
    return mirror, members


@settings(max_examples=300, deadline=None)
@given(scenario=scenarios(), data=st.data())
def test_any_order_and_batching_of_user_keys_converges(
    scenario: tuple[dict[str, DesiredUser], dict[str, ActualMember]], data: st.DataObject
) -> None:
    mirror, members = scenario
    note(f"mirror={mirror!r}\nmembers={members!r}")
    keys: list[ResourceKey] = [("User", u) for u in USERS]
    reference = FakeStore(mirror=dict(mirror), members=dict(members))
    expected = apply_with_store(reference, "t", keys, make_id=counter())

    shuffled = data.draw(st.permutations(keys + data.draw(st.lists(st.sampled_from(keys)))))
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(shuffled) - 1)), max_size=3)))
    store = FakeStore(mirror=dict(mirror), members=dict(members))
    violations: dict[ResourceKey, RuleViolation] = {}
    make_id = counter()  # member ids stay unique across the batches
    for start, end in zip([0, *cuts], [*cuts, len(shuffled)], strict=True):
        violations.update(
            apply_with_store(store, "t", shuffled[start:end], make_id=make_id).violations
        )
    assert store.state() == reference.state()
    again = apply_with_store(store, "t", keys, make_id=make_id)  # a fixed point: no drift left
    assert again.counts == {}
    assert {k: v.code for k, v in violations.items()} == {
        k: v.code for k, v in expected.violations.items()
    }


def test_dependson_names_the_key_to_apply_first() -> None:
    assert DependsOn(("User", "u1")).key == ("User", "u1")
