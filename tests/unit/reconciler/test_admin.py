"""The Members page's services (reconciler/admin.py) over an in-memory store: each checks
its rule, writes, audits once, and a refusal writes and audits nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from reconciler import admin
from reconciler.errors import NotFound, RuleRefusal
from reconciler.model import (
    Access,
    ActualGroup,
    ActualMember,
    DeleteGroup,
    DeleteMember,
    MemberStatus,
    RenameGroup,
)
from tests.unit.reconciler.fake_store import FakeAdminStore, workspace

ACTIVE, PENDING, DEACTIVATED = MemberStatus.ACTIVE, MemberStatus.PENDING, MemberStatus.DEACTIVATED


def refused(code: str, call: Callable[[], Any], store: FakeAdminStore) -> None:
    """`call` is refused with `code` and leaves the store exactly as it was."""
    before = repr(store)
    with pytest.raises(RuleRefusal) as refusal:
        call()
    assert refusal.value.code == code and refusal.value.detail
    assert repr(store) == before


def scim_member(store: FakeAdminStore, member_id: str, status: MemberStatus = ACTIVE) -> None:
    email = f"{member_id}@acme.test"
    store.insert_member("t", ActualMember(member_id, email, email, status, scim_user_id="u1"))


# --- members -----------------------------------------------------------------------------


def test_invite_makes_a_pending_member_with_an_invitation_and_audits_it() -> None:
    store = workspace()
    detail = admin.invite_member(
        store, tenant_id="t", email="Guest@Partner.test", display_name="G", actor="adm"
    )
    member = detail.member
    assert (member.status, member.email_ci, member.scim_managed) == (
        PENDING,
        "guest@partner.test",
        False,
    )
    assert (detail.can_login, detail.login_reason) == (False, "invitation_pending")
    assert store.invitations == {member.id: "Guest@Partner.test"}
    assert store.audit_log == [
        ("adm", "invite_member", f"member:{member.id}", {"email": "Guest@Partner.test"})
    ]
    again = lambda: admin.invite_member(  # noqa: E731
        store, tenant_id="t", email="GUEST@partner.test", display_name=None, actor="adm"
    )
    refused("already_member", again, store)


def test_accepting_an_invitation_follows_the_transition_table() -> None:
    store = workspace()
    member_id = admin.invite_member(
        store, tenant_id="t", email="g@partner.test", display_name=None, actor="adm"
    ).member.id
    accepted = admin.accept_invitation(store, tenant_id="t", member_id=member_id, actor="cli")
    assert (accepted.member.status, accepted.member.has_password, accepted.can_login) == (
        ACTIVE,
        True,
        True,
    )
    assert store.invitations == {}
    assert store.actions_audited()[-1] == ("accept_invitation", f"member:{member_id}")
    for status in (ACTIVE, DEACTIVATED):  # only pending members accept
        scim_member(store, f"x-{status}", status)
        accept = lambda m=f"x-{status}": admin.accept_invitation(  # noqa: E731
            store, tenant_id="t", member_id=m, actor="cli"
        )
        refused("not_pending", accept, store)


def test_delete_member_refuses_scim_managed_members_and_the_owner() -> None:
    store = workspace()
    scim_member(store, "s")
    store.insert_member("t", ActualMember("n", "n@acme.test", "n@acme.test", ACTIVE))
    for member_id, code in (("s", "scim_managed"), ("owner", "owner_protected")):
        delete = lambda m=member_id: admin.delete_member(  # noqa: E731
            store, tenant_id="t", member_id=m, actor="adm"
        )
        refused(code, delete, store)
    admin.delete_member(store, tenant_id="t", member_id="n", actor="adm")
    assert store.applied == [DeleteMember("n", "n@acme.test")]  # the workspace's write path
    assert store.audit_log == [("adm", "delete_member", "member:n", {})]


def test_unknown_tenant_member_and_group_are_not_found() -> None:
    store = workspace()
    with pytest.raises(NotFound):
        admin.delete_member(store, tenant_id="other", member_id="owner", actor="adm")
    with pytest.raises(NotFound):
        admin.get_member(store, tenant_id="t", member_id="nope")
    with pytest.raises(NotFound):
        admin.delete_group(store, tenant_id="t", group_id="nope", actor="adm")
    assert store.audit_log == []


def test_rule_08_billing_counts_active_members_only() -> None:
    store = workspace()  # the Owner
    scim_member(store, "a", ACTIVE)
    scim_member(store, "p", PENDING)
    scim_member(store, "d", DEACTIVATED)
    assert admin.billed_members(store, tenant_id="t") == 2


def test_rule_09_members_are_listed_in_three_tabs() -> None:
    store = workspace()
    for member_id, status in (("p1", PENDING), ("d", DEACTIVATED), ("p2", PENDING)):
        scim_member(store, member_id, status)
    found, counts = admin.list_members(store, tenant_id="t", status=PENDING)
    assert [m.id for m in found] == ["p1", "p2"]
    assert list(counts.items()) == [(ACTIVE, 1), (PENDING, 2), (DEACTIVATED, 1)]


def test_the_login_check() -> None:
    store = workspace()
    scim_member(store, "d", DEACTIVATED)
    assert admin.check_access(store, tenant_id="t", email="BOSS@acme.test") == (True, "active")
    assert admin.check_access(store, tenant_id="t", email="d@acme.test") == (False, "deactivated")
    assert admin.check_access(store, tenant_id="t", email="x@acme.test") == (False, "not_a_member")


# --- groups --------------------------------------------------------------------------------


def test_groups_are_named_once_case_insensitively() -> None:
    store = workspace()
    view = admin.create_group(store, tenant_id="t", name="Design", actor="adm")
    assert (view.group.name, view.member_count, view.permissions) == ("Design", 0, {})
    create = lambda: admin.create_group(store, tenant_id="t", name="DESIGN", actor="adm")  # noqa: E731
    refused("name_taken", create, store)
    other = admin.create_group(store, tenant_id="t", name="Eng", actor="adm").group.id
    rename = lambda: admin.rename_group(  # noqa: E731
        store, tenant_id="t", group_id=other, name="design", actor="adm"
    )
    refused("name_taken", rename, store)
    renamed = admin.rename_group(store, tenant_id="t", group_id=other, name="eng", actor="adm")
    assert renamed.group.name == "eng"  # its own name, in another case, is free
    assert store.applied == [RenameGroup(other, "eng")]
    assert [action for action, _ in store.actions_audited()] == [
        "create_group",
        "create_group",
        "rename_group",
    ]


def test_rule_07_scim_groups_are_locked_but_take_permissions() -> None:
    store = workspace()
    store.groups["g"] = ActualGroup("g", "Eng (SCIM)", "G1")
    calls: list[Callable[[], Any]] = [
        lambda: admin.rename_group(store, tenant_id="t", group_id="g", name="X", actor="adm"),
        lambda: admin.delete_group(store, tenant_id="t", group_id="g", actor="adm"),
        lambda: admin.add_group_member(
            store, tenant_id="t", group_id="g", member_id="owner", actor="adm"
        ),
        lambda: admin.remove_group_member(
            store, tenant_id="t", group_id="g", member_id="owner", actor="adm"
        ),
    ]
    for call in calls:
        refused("scim_managed", call, store)
    grants = [("/eng", Access.WRITE)]
    view = admin.set_group_permissions(
        store, tenant_id="t", group_id="g", grants=grants, actor="adm"
    )
    assert view.permissions == {"/eng": Access.WRITE}
    assert store.audit_log == [
        (
            "adm",
            "set_group_permissions",
            "group:g",
            {"permissions": [{"path": "/eng", "access": "write"}]},
        )
    ]


def test_rule_06_a_scim_member_joins_a_native_group_once() -> None:
    store = workspace()
    scim_member(store, "s")
    group_id = admin.create_group(store, tenant_id="t", name="Design", actor="adm").group.id
    for _ in range(2):  # the second add changes and audits nothing
        admin.add_group_member(store, tenant_id="t", group_id=group_id, member_id="s", actor="a")
    detail = admin.get_member(store, tenant_id="t", member_id="s")
    assert [(g.name, g.source) for g in detail.groups] == [("Design", "native")]
    admin.remove_group_member(store, tenant_id="t", group_id=group_id, member_id="s", actor="a")
    with pytest.raises(NotFound):
        admin.remove_group_member(store, tenant_id="t", group_id=group_id, member_id="s", actor="a")
    assert [action for action, _ in store.actions_audited()] == [
        "create_group",
        "add_group_member",
        "remove_group_member",
    ]


def test_deleting_a_native_group_goes_through_the_write_path() -> None:
    store = workspace()
    group_id = admin.create_group(store, tenant_id="t", name="Design", actor="adm").group.id
    admin.delete_group(store, tenant_id="t", group_id=group_id, actor="adm")
    assert store.applied == [DeleteGroup(group_id, "Design")] and store.groups == {}


def test_effective_permissions_of_a_member() -> None:
    store = workspace()
    for name, access in (("A", Access.READ), ("B", Access.ADMIN)):
        gid = admin.create_group(store, tenant_id="t", name=name, actor="adm").group.id
        admin.set_group_permissions(
            store, tenant_id="t", group_id=gid, grants=[("/x", access)], actor="adm"
        )
        admin.add_group_member(store, tenant_id="t", group_id=gid, member_id="owner", actor="a")
    assert admin.get_member(store, tenant_id="t", member_id="owner").permissions == {
        "/x": Access.ADMIN
    }
