"""Rule 11 as a plan (reconciler/cascade.py): what removing SSO does to each member and group,
and the cascade as the SSO-removal service (reconciler/sso.py) streams and applies it."""

from __future__ import annotations

from reconciler import sso
from reconciler.cascade import plan_group_sso_removal, plan_member_sso_removal
from reconciler.model import (
    Action,
    ActualGroup,
    ActualMember,
    CreateInvitation,
    DeleteGroup,
    DeleteMember,
    MemberStatus,
    Role,
    SetMemberStatus,
    TenantPolicy,
    UnlinkMember,
)
from tests.unit.reconciler.fake_store import FakeAdminStore

POLICY = TenantPolicy(
    "t",
    sso_domains=frozenset({"acme.test"}),
    sso_configured=True,
    scim_enabled=True,
    owner_email="boss@acme.test",
)
ACTIVE, PENDING, DEACTIVATED = MemberStatus.ACTIVE, MemberStatus.PENDING, MemberStatus.DEACTIVATED


def member(
    member_id: str,
    status: MemberStatus,
    *,
    scim: bool = True,
    password: bool = False,
    email: str | None = None,
    role: Role = Role.MEMBER,
) -> ActualMember:
    address = email or f"{member_id}@acme.test"
    return ActualMember(
        member_id,
        address,
        address,
        status,
        role=role,
        has_password=password,
        scim_user_id=f"u-{member_id}" if scim else None,
    )


def in_any_order(actions: list[Action]) -> list[str]:
    return sorted(map(repr, actions))


def test_rule_11_sso_removal_cascade() -> None:
    groups = [ActualGroup("g1", "Eng (SCIM)", "G1"), ActualGroup("g2", "Native")]
    people = [
        member("off", DEACTIVATED),
        member("off-native", DEACTIVATED, scim=False),
        member("nopw", ACTIVE),
        member("pw", ACTIVE, password=True),
        member("native", ACTIVE, scim=False),
    ]
    store = FakeAdminStore(policy=POLICY, page_size=2)  # three pages of members
    for group in groups:
        store.groups[group.id] = group
    for person in people:
        store.insert_member("t", person)
    report = sso.remove_sso(store, tenant_id="t", actor="cli")
    assert in_any_order(store.applied) == in_any_order(
        [
            DeleteGroup("g1", "Eng (SCIM)"),  # SCIM groups go
            DeleteMember("off", "off@acme.test"),  # every deactivated member goes
            DeleteMember("off-native", "off-native@acme.test"),
            UnlinkMember("nopw"),  # no password: pending; an admin sends the invitation
            SetMemberStatus("nopw", PENDING, None),
            UnlinkMember("pw"),  # a password: keeps working
        ]
    )
    assert report.counts == {
        "delete_group": 1,
        "delete_member": 2,
        "unlink_member": 2,
        "set_member_status": 1,
    }


def test_finding_3_a_deactivated_owner_is_kept_unlinked_and_still_deactivated() -> None:
    owner = member("o", DEACTIVATED, role=Role.OWNER)
    assert plan_member_sso_removal(POLICY, owner) == [UnlinkMember("o")]
    by_email = member("b", DEACTIVATED, scim=False, email="boss@acme.test")
    assert plan_member_sso_removal(POLICY, by_email) == []


def test_an_owner_without_password_stays_active() -> None:
    owner = member("o", ACTIVE, role=Role.OWNER)
    assert plan_member_sso_removal(POLICY, owner) == [UnlinkMember("o")]


def test_finding_2_the_cascade_sends_no_invitation_itself() -> None:
    pending = member("p", PENDING)
    assert plan_member_sso_removal(POLICY, pending) == [UnlinkMember("p")]
    passwordless = member("a", ACTIVE)
    assert not any(
        isinstance(a, CreateInvitation) for a in plan_member_sso_removal(POLICY, passwordless)
    )


def test_native_members_and_groups_are_untouched() -> None:
    assert plan_member_sso_removal(POLICY, member("n", ACTIVE, scim=False)) == []
    assert plan_member_sso_removal(POLICY, member("n", PENDING, scim=False)) == []
    assert plan_group_sso_removal(ActualGroup("g", "Native")) == []
