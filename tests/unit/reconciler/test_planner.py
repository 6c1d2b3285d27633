"""The one planner (reconciler/planner.py): snapshot in, actions out; [] means no drift."""

from __future__ import annotations

from dataclasses import replace

import pytest

from reconciler.model import (
    ActualGroup,
    ActualMember,
    AdminSeat,
    CreateGroup,
    CreateInvitation,
    CreateMember,
    DeleteGroup,
    DeleteMember,
    DependsOn,
    DesiredGroup,
    DesiredUser,
    GroupSnapshot,
    IdpKind,
    LinkMember,
    MemberStatus,
    RecordRefusal,
    RenameGroup,
    Role,
    RuleViolation,
    SetMemberStatus,
    SyncGroupMembers,
    SyncUserMemberships,
    TenantPolicy,
    UnlinkMember,
    UpdateMemberProfile,
    UserSnapshot,
)
from reconciler.planner import plan, plan_group, plan_user

POLICY = TenantPolicy(
    "t",
    idp=IdpKind.OKTA,
    sso_domains=frozenset({"acme.test"}),
    sso_configured=True,
    scim_enabled=True,
    owner_email="boss@acme.test",
)
ACTIVE, PENDING, DEACTIVATED = MemberStatus.ACTIVE, MemberStatus.PENDING, MemberStatus.DEACTIVATED


def desired(
    email: str | None = "ann@acme.test",
    *,
    active: bool = True,
    version: int = 1,
    scim_id: str = "u1",
    name: str | None = "Ann",
) -> DesiredUser:
    return DesiredUser(
        scim_id, email.lower() if email else None, email, name, active, False, version
    )


def member(
    email: str = "ann@acme.test",
    status: MemberStatus = ACTIVE,
    *,
    scim: str | None = "u1",
    role: Role = Role.MEMBER,
    before: MemberStatus | None = None,
    member_id: str = "m1",
    name: str | None = "Ann",
) -> ActualMember:
    return ActualMember(member_id, email, email.lower(), status, name, before, role, False, scim)


def user_plan(snapshot: UserSnapshot) -> list[object]:
    return list(plan_user(POLICY, snapshot, lambda: "new1"))


# --- rule 2 ----------------------------------------------------------------------------


def test_rule_02_scim_user_links_to_the_member_with_its_email_case_insensitively() -> None:
    native = member("Ann@ACME.test", scim=None)
    actions = user_plan(UserSnapshot("u1", desired("ann@acme.test"), email_holder=native))
    assert actions[0] == LinkMember("m1", "u1")
    assert not any(isinstance(a, CreateMember) for a in actions)
    assert actions[-1] == SyncUserMemberships("m1")  # its SCIM groups apply at once


def test_linking_keeps_a_pending_members_status() -> None:
    native = member("ann@gmail.com", PENDING, scim=None)
    actions = user_plan(UserSnapshot("u1", desired("ann@gmail.com"), email_holder=native))
    assert actions == [LinkMember("m1", "u1"), SyncUserMemberships("m1")]


def test_an_email_held_by_another_live_scim_user_is_a_conflict() -> None:
    other = member(scim="u2", member_id="m2")
    with pytest.raises(RuleViolation) as refused:
        user_plan(UserSnapshot("u1", desired(), email_holder=other))
    assert refused.value.code == "email_conflict"


def test_an_email_released_by_its_scim_user_waits_for_that_user() -> None:
    other = member(scim="u2", member_id="m2")
    with pytest.raises(DependsOn) as depends:
        user_plan(UserSnapshot("u1", desired(), email_holder=other, email_holder_released=True))
    assert depends.value.key == ("User", "u2")


def test_an_email_change_onto_a_native_members_address_is_a_conflict() -> None:
    snapshot = UserSnapshot(
        "u1",
        desired("new@acme.test"),
        linked=member("old@acme.test"),
        email_holder=member("new@acme.test", scim=None, member_id="m2"),
    )
    with pytest.raises(RuleViolation, match="email_conflict"):
        user_plan(snapshot)


def test_a_user_without_email_is_refused() -> None:
    with pytest.raises(RuleViolation) as refused:
        user_plan(UserSnapshot("u1", desired(None)))
    assert refused.value.code == "no_email"


# --- rule 3 ----------------------------------------------------------------------------


def test_rule_03_new_member_is_active_in_an_sso_domain_else_pending_with_invitation() -> None:
    inside = user_plan(UserSnapshot("u1", desired("Ann@Acme.test")))
    assert inside == [
        CreateMember("new1", "u1", "Ann@Acme.test", "Ann", ACTIVE, None, False),
        SyncUserMemberships("new1"),
    ]
    outside = user_plan(UserSnapshot("u1", desired("ann@gmail.com")))
    assert outside == [
        CreateMember("new1", "u1", "ann@gmail.com", "Ann", PENDING, None, False),
        CreateInvitation("new1", "ann@gmail.com"),
        SyncUserMemberships("new1"),
    ]


def test_a_user_created_inactive_starts_deactivated_remembering_its_first_status() -> None:
    actions = user_plan(UserSnapshot("u1", desired("ann@gmail.com", active=False)))
    assert actions[0] == CreateMember(
        "new1", "u1", "ann@gmail.com", "Ann", DEACTIVATED, PENDING, False
    )
    assert not any(isinstance(a, CreateInvitation) for a in actions)


# --- rule 4 ----------------------------------------------------------------------------


def test_rule_04_deactivation_keeps_memberships_and_permissions() -> None:
    deactivate = user_plan(UserSnapshot("u1", desired(active=False), linked=member()))
    # Only the status changes: no membership sync, no delete, no group action.
    assert deactivate == [SetMemberStatus("m1", DEACTIVATED, ACTIVE)]
    off = member(status=DEACTIVATED, before=ACTIVE)
    assert user_plan(UserSnapshot("u1", desired(active=False), linked=off)) == []
    assert user_plan(UserSnapshot("u1", desired(), linked=off)) == [
        SetMemberStatus("m1", ACTIVE, None)
    ]


def test_a_pending_member_deactivated_and_reactivated_is_pending_again() -> None:
    pending = member("ann@gmail.com", PENDING)
    assert user_plan(
        UserSnapshot("u1", desired("ann@gmail.com", active=False), linked=pending)
    ) == [SetMemberStatus("m1", DEACTIVATED, PENDING)]
    off = member("ann@gmail.com", DEACTIVATED, before=PENDING)
    assert user_plan(UserSnapshot("u1", desired("ann@gmail.com"), linked=off)) == [
        SetMemberStatus("m1", PENDING, None),
        CreateInvitation("m1", "ann@gmail.com"),
    ]


def test_an_in_step_user_has_no_drift() -> None:
    assert plan(POLICY, UserSnapshot("u1", desired(), linked=member())) == []


def test_profile_changes_and_membership_drift_are_repaired() -> None:
    snapshot = UserSnapshot(
        "u1", desired("ann@acme.test", name="Ann B"), linked=member(), membership_drift=2
    )
    assert user_plan(snapshot) == [
        UpdateMemberProfile("m1", "ann@acme.test", "Ann B", False),
        SyncUserMemberships("m1"),
    ]


# --- rule 5 ----------------------------------------------------------------------------


def test_rule_05_idp_delete_removes_the_member_but_never_the_owner() -> None:
    assert user_plan(UserSnapshot("u1", None, linked=member())) == [
        DeleteMember("m1", "ann@acme.test")
    ]
    owner = member("boss@acme.test")
    actions = user_plan(UserSnapshot("u1", None, linked=owner))
    assert actions[:2] == [UnlinkMember("m1"), SyncUserMemberships("m1")]
    assert isinstance(actions[2], RecordRefusal) and actions[2].code == "owner_protected"
    assert not any(isinstance(a, DeleteMember) for a in actions)
    # Unlinked, the Owner is no longer this user's member: the next run sees no drift.
    assert user_plan(UserSnapshot("u1", None)) == []


def test_finding_3_the_idp_deactivates_the_owner_like_anyone_else() -> None:
    owner = member(role=Role.OWNER)
    seats = frozenset({AdminSeat("m1", True, False), AdminSeat("m2", False, True)})
    snapshot = UserSnapshot("u1", desired(active=False), linked=owner, active_admins=seats)
    assert user_plan(snapshot) == [SetMemberStatus("m1", DEACTIVATED, ACTIVE)]
    back = UserSnapshot("u1", desired(), linked=member(DEACTIVATED_OWNER_EMAIL, DEACTIVATED))
    assert SetMemberStatus("m1", ACTIVE, None) in user_plan(back)


DEACTIVATED_OWNER_EMAIL = "boss@acme.test"


def test_the_last_active_admin_stays_active_and_the_refusal_is_recorded_once_per_version() -> None:
    owner = member(role=Role.OWNER)
    alone = frozenset({AdminSeat("m1", True, False)})
    first = user_plan(
        UserSnapshot("u1", desired(active=False, version=3), linked=owner, active_admins=alone)
    )
    assert [a.code for a in first if isinstance(a, RecordRefusal)] == ["last_admin"]
    assert not any(isinstance(a, SetMemberStatus) for a in first)
    again = UserSnapshot(
        "u1", desired(active=False, version=3), linked=owner, applied_version=3, active_admins=alone
    )
    assert user_plan(again) == []
    # an admin by role is guarded the same way; a plain member never is
    admin = member(role=Role.ADMIN)
    assert not any(
        isinstance(a, SetMemberStatus)
        for a in user_plan(
            UserSnapshot("u1", desired(active=False), linked=admin, active_admins=alone)
        )
    )
    plain = UserSnapshot("u1", desired(active=False), linked=member())
    assert user_plan(plain) == [SetMemberStatus("m1", DEACTIVATED, ACTIVE)]


def test_when_every_admin_is_deactivated_the_owner_is_the_one_kept_whatever_the_order() -> None:
    seats = frozenset({AdminSeat("m1", False, False), AdminSeat("m2", True, False)})
    admin = UserSnapshot("u1", desired(active=False), linked=member(role=Role.ADMIN))
    kept_admin = user_plan(replace(admin, active_admins=seats))
    assert kept_admin == [SetMemberStatus("m1", DEACTIVATED, ACTIVE)]
    owner = member(role=Role.OWNER, member_id="m2")
    kept_owner = user_plan(
        UserSnapshot("u2", desired(active=False, scim_id="u2"), linked=owner, active_admins=seats)
    )
    assert not any(isinstance(a, SetMemberStatus) for a in kept_owner)


def test_a_member_moving_onto_the_owner_email_is_guarded_in_the_same_run() -> None:
    snapshot = UserSnapshot("u1", desired("boss@acme.test", active=False), linked=member())
    actions = user_plan(snapshot)
    assert not any(isinstance(a, SetMemberStatus) for a in actions)  # the next run agrees
    assert UpdateMemberProfile("m1", "boss@acme.test", "Ann", False) in actions


def test_a_new_user_with_the_owner_email_is_created_deactivated_when_another_admin_is_active() -> (
    None
):
    alone = user_plan(UserSnapshot("u1", desired("boss@acme.test", active=False)))
    assert alone[0] == CreateMember("new1", "u1", "boss@acme.test", "Ann", ACTIVE, None, False)
    other = UserSnapshot(
        "u1",
        desired("boss@acme.test", active=False),
        active_admins=frozenset({AdminSeat("m9", False, True)}),
    )
    created = user_plan(other)[0]
    assert isinstance(created, CreateMember) and created.status is DEACTIVATED


# --- groups: rules 7 and 10 ----------------------------------------------------------------


def group_snapshot(
    name: str | None = "Eng",
    actual: ActualGroup | None = None,
    taken: frozenset[str] = frozenset(),
    drift: int = 0,
) -> GroupSnapshot:
    want = DesiredGroup("g1", name, 1) if name is not None else None
    return GroupSnapshot("g1", want, actual, taken, drift)


def test_scim_groups_are_created_with_the_suffix_and_synced() -> None:
    assert plan_group(POLICY, group_snapshot(), lambda: "w1") == [
        CreateGroup("w1", "g1", "Eng (SCIM)"),
        SyncGroupMembers("w1"),
    ]


def test_finding_4_a_taken_scim_name_is_refused_not_numbered() -> None:
    taken = frozenset({"eng (scim)"})
    with pytest.raises(RuleViolation) as refused:
        plan_group(POLICY, group_snapshot(taken=taken), lambda: "w1")
    assert refused.value.code == "group_name_taken"
    renamed = group_snapshot("Eng", ActualGroup("w1", "Ops (SCIM)", "g1"), taken | {"ops (scim)"})
    with pytest.raises(RuleViolation, match="group_name_taken"):
        plan_group(POLICY, renamed)


def test_an_idp_rename_renames_the_group_keeping_the_suffix() -> None:
    actual = ActualGroup("w1", "Eng (SCIM)", "g1")
    snapshot = group_snapshot("Engineering", actual, frozenset({"eng (scim)"}))
    assert plan_group(POLICY, snapshot) == [RenameGroup("w1", "Engineering (SCIM)")]


def test_a_numbered_name_of_old_is_renamed_and_membership_drift_is_synced() -> None:
    old = ActualGroup("w1", "Eng (SCIM 2)", "g1")
    assert plan_group(POLICY, group_snapshot(actual=old)) == [RenameGroup("w1", "Eng (SCIM)")]
    actual = ActualGroup("w1", "Eng (SCIM)", "g1")
    assert plan_group(POLICY, group_snapshot(actual=actual)) == []
    assert plan_group(POLICY, group_snapshot(actual=actual, drift=5)) == [SyncGroupMembers("w1")]


def test_an_idp_delete_deletes_the_scim_group() -> None:
    actual = ActualGroup("w1", "Eng (SCIM)", "g1")
    assert plan_group(POLICY, group_snapshot(None, actual)) == [DeleteGroup("w1", "Eng (SCIM)")]
    assert plan_group(POLICY, group_snapshot(None)) == []


def test_rule_10_google_tenant_group_push_is_refused_by_the_planner() -> None:
    google = TenantPolicy("t", idp=IdpKind.GOOGLE, scim_enabled=True)
    with pytest.raises(RuleViolation) as refused:
        plan_group(google, group_snapshot())
    assert refused.value.code == "groups_not_supported"
    leftover = ActualGroup("w1", "Eng (SCIM)", "g1")  # from before the IdP changed: clean up
    assert plan_group(google, group_snapshot(None, leftover)) == [DeleteGroup("w1", "Eng (SCIM)")]
