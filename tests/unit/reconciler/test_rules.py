"""The pure workspace rules (reconciler/rules.py): tables and checks, no I/O."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler import rules
from reconciler.errors import RuleRefusal
from reconciler.model import (
    ActualGroup,
    ActualMember,
    AdminSeat,
    IdpKind,
    MemberStatus,
    Role,
    RuleViolation,
    TenantPolicy,
)

POLICY = TenantPolicy(
    "t",
    sso_domains=frozenset({"acme.test"}),
    sso_configured=True,
    scim_enabled=True,
    owner_email="boss@acme.test",
)
ACTIVE, PENDING, DEACTIVATED = MemberStatus.ACTIVE, MemberStatus.PENDING, MemberStatus.DEACTIVATED
statuses = st.sampled_from(list(MemberStatus))


def member(
    status: MemberStatus = ACTIVE,
    *,
    scim: str | None = None,
    role: Role = Role.MEMBER,
    email: str = "ann@acme.test",
) -> ActualMember:
    return ActualMember("m1", email, email.lower(), status, role=role, scim_user_id=scim)


def refusal_code(check: object, *args: object) -> str | None:
    try:
        check(*args)  # type: ignore[operator]
    except (RuleViolation, RuleRefusal) as refused:  # the planner's, an admin request's
        return refused.code
    return None


def test_rule_01_scim_can_only_be_enabled_with_sso_configured() -> None:
    assert refusal_code(rules.check_enable_scim, TenantPolicy("t")) == "sso_required"
    assert refusal_code(rules.check_enable_scim, POLICY) is None


@pytest.mark.parametrize(
    ("email", "status"),
    [
        ("ann@acme.test", ACTIVE),
        ("Ann@ACME.Test", ACTIVE),
        ("ann@sub.acme.test", PENDING),  # a subdomain is not the verified domain
        ("ann@gmail.com", PENDING),
    ],
)
def test_initial_status_follows_the_sso_domains(email: str, status: MemberStatus) -> None:
    assert rules.initial_status(email, POLICY) is status


def test_status_transition_table_covers_every_status_and_trigger() -> None:
    assert set(rules.STATUS_TRANSITIONS) == {(s, t) for s in MemberStatus for t in rules.Trigger}


@given(status=statuses)
def test_deactivating_then_reactivating_restores_the_status(status: MemberStatus) -> None:
    deactivated = rules.next_status((status, None), False, fallback=ACTIVE)
    assert deactivated[0] is DEACTIVATED
    assert rules.next_status(deactivated, False, fallback=ACTIVE) == deactivated  # repeat: no-op
    expected = status if status is not DEACTIVATED else ACTIVE  # nothing remembered: fallback
    assert rules.next_status(deactivated, True, fallback=ACTIVE) == (expected, None)


@given(status=statuses, active=st.booleans())
def test_applying_the_same_flag_twice_changes_nothing(status: MemberStatus, active: bool) -> None:
    once = rules.next_status((status, None), active, fallback=PENDING)
    assert rules.next_status(once, active, fallback=PENDING) == once


def test_owner_is_recognised_by_role_or_by_the_tenant_owner_email() -> None:
    assert rules.is_owner(member(role=Role.OWNER), POLICY)
    assert rules.is_owner(member(email="Boss@Acme.test"), POLICY)
    assert not rules.is_owner(member(), POLICY)
    assert not rules.is_owner(member(), TenantPolicy("t"))


def test_rule_06_admins_cannot_delete_scim_managed_members() -> None:
    with pytest.raises(RuleRefusal) as violation:
        rules.check_admin_delete_member(member(scim="u1"))
    assert violation.value.code == "scim_managed"
    assert "identity provider" in violation.value.detail
    assert refusal_code(rules.check_admin_delete_member, member()) is None
    # Adding a SCIM-managed member to a native group is allowed: only the group is checked.
    assert refusal_code(rules.check_admin_change_group_members, ActualGroup("g", "Native")) is None


def test_admins_cannot_delete_the_owner() -> None:
    owner = member(role=Role.OWNER)
    assert refusal_code(rules.check_admin_delete_member, owner, POLICY) == "owner_protected"


def test_rule_07_scim_groups_are_suffixed_and_locked_for_admins() -> None:
    assert rules.scim_group_name("Engineering") == "Engineering (SCIM)"
    scim_group = ActualGroup("g", "Engineering (SCIM)", scim_group_id="G1")
    native = ActualGroup("n", "Engineering")
    for check in (
        rules.check_admin_rename_group,
        rules.check_admin_delete_group,
        rules.check_admin_change_group_members,
    ):
        assert refusal_code(check, scim_group) == "scim_managed"
        assert refusal_code(check, native) is None


def test_finding_4_a_taken_scim_name_is_refused_never_numbered() -> None:
    with pytest.raises(RuleViolation) as refused:
        rules.check_scim_group_name_free("Eng (SCIM)", frozenset({"eng (scim)"}))
    assert refused.value.code == "group_name_taken"
    assert "identity provider" in refused.value.detail
    rules.check_scim_group_name_free("Eng (SCIM)", frozenset({"eng (scim 2)", "eng"}))


@pytest.mark.parametrize(
    "name", ["Eng (SCIM)", "Eng (scim)", "Eng ( SCIM )", "Eng (SCIM 2)", "Eng (SCIM)  "]
)
def test_finding_4_native_group_names_cannot_end_in_the_scim_suffix(name: str) -> None:
    assert refusal_code(rules.check_group_name_free, name, frozenset()) == "reserved_name"


@pytest.mark.parametrize("name", ["Eng", "SCIM admins", "Eng (SCIM) team", "Eng (SCIMS)"])
def test_other_native_group_names_are_allowed(name: str) -> None:
    assert refusal_code(rules.check_group_name_free, name, frozenset()) is None


@given(display=st.text(min_size=1, max_size=30))
def test_a_scim_name_is_recognised_as_its_groups_and_is_reserved(display: str) -> None:
    name = rules.scim_group_name(display)
    assert rules.is_scim_name_for(name, display)
    assert rules.has_reserved_suffix(name)


def test_a_renamed_display_name_is_not_recognised() -> None:
    assert not rules.is_scim_name_for("Eng (SCIM 2)", "Eng")  # numbered names are gone
    assert not rules.is_scim_name_for("Eng (SCIM)", "Engineering")
    assert not rules.is_scim_name_for("eng (SCIM)", "Eng")  # a case change is a rename
    assert not rules.is_scim_name_for("Eng", "Eng")


@pytest.mark.parametrize(
    ("attributes", "shown"),
    [
        (("Ann B", "Ann Formatted", "Ann", "Berg", "ann@x.test"), "Ann B"),
        ((None, "Ms Ann Berg", "Ann", "Berg", "ann@x.test"), "Ms Ann Berg"),
        ((None, None, "Ann", "Berg", "ann@x.test"), "Ann Berg"),  # Google's shape
        ((" ", "", None, "Berg", "ann@x.test"), "Berg"),
        ((None, None, None, None, "ann@x.test"), "ann@x.test"),
    ],
)
def test_finding_5_display_name_falls_back_through_the_scim_name_attributes(
    attributes: tuple[str | None, ...], shown: str
) -> None:
    assert rules.member_display_name(*attributes) == shown


def test_the_last_active_admin_is_recognised() -> None:
    me, other_off, other_on = (
        AdminSeat("m1", False, False),
        AdminSeat("m2", False, False),
        AdminSeat("m3", False, True),
    )
    assert rules.keeps_last_admin("m1", frozenset({me}))
    assert rules.keeps_last_admin(None, frozenset())
    assert not rules.keeps_last_admin("m1", frozenset({me, other_on}))
    assert rules.keeps_last_admin("m1", frozenset({me, other_off}))  # smallest id kept
    assert not rules.keeps_last_admin("m2", frozenset({me, other_off}))
    assert rules.is_admin(member(role=Role.ADMIN), POLICY)
    assert rules.is_admin(member(email="Boss@acme.test"), POLICY)
    assert not rules.is_admin(member(), POLICY)


def test_rule_10_google_workspace_provisions_users_only() -> None:
    google = TenantPolicy("t", idp=IdpKind.GOOGLE)
    assert refusal_code(rules.check_groups_supported, google) == "groups_not_supported"
    for idp in set(IdpKind) - {IdpKind.GOOGLE}:
        assert refusal_code(rules.check_groups_supported, TenantPolicy("t", idp=idp)) is None


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (ACTIVE, (True, "active")),
        (PENDING, (False, "invitation_pending")),
        (DEACTIVATED, (False, "deactivated")),
    ],
)
def test_only_active_members_can_log_in(status: MemberStatus, expected: tuple[bool, str]) -> None:
    assert rules.can_login(member(status), POLICY) == expected


def test_a_stranger_cannot_log_in() -> None:
    assert rules.can_login(None, POLICY) == (False, "not_a_member")


@pytest.mark.parametrize(
    ("current", "trigger", "after"),
    [
        ((PENDING, None), rules.Trigger.INVITATION_ACCEPTED, (ACTIVE, None)),  # an admin
        ((ACTIVE, None), rules.Trigger.IDP_INACTIVE, (DEACTIVATED, ACTIVE)),  # the IdP
        ((DEACTIVATED, PENDING), rules.Trigger.IDP_ACTIVE, (PENDING, None)),
        ((ACTIVE, None), rules.Trigger.SSO_REMOVED_PASSWORDLESS, (PENDING, None)),  # rule 11
        ((DEACTIVATED, ACTIVE), rules.Trigger.SSO_REMOVED_OWNER, (DEACTIVATED, ACTIVE)),
        ((ACTIVE, None), rules.Trigger.SSO_REMOVED, (ACTIVE, None)),
    ],
)
def test_one_table_moves_every_status(
    current: rules.StatusPair, trigger: rules.Trigger, after: rules.StatusPair
) -> None:
    assert rules.status_after(current, trigger) == after


@pytest.mark.parametrize(
    ("status", "trigger"),
    [
        (ACTIVE, rules.Trigger.INVITATION_ACCEPTED),
        (DEACTIVATED, rules.Trigger.INVITATION_ACCEPTED),
        (DEACTIVATED, rules.Trigger.SSO_REMOVED),
    ],
)
def test_a_refusal_or_a_removal_is_no_status(status: MemberStatus, trigger: rules.Trigger) -> None:
    assert rules.transition_for(status, trigger) in (
        rules.Transition.REFUSE,
        rules.Transition.DELETE,
    )
    with pytest.raises(ValueError):
        rules.status_after((status, None), trigger)
