"""SSO, SCIM and workspace services (reconciler/sso.py, workspaces.py) over an in-memory
store: rules 1 and 11, each operation audited once, refusals write nothing."""

from __future__ import annotations

import pytest

from reconciler import sso, workspaces
from reconciler.errors import NotFound, RuleRefusal
from reconciler.model import ActualGroup, ActualMember, MemberStatus, Role
from reconciler.rules import Transition, Trigger, status_after, transition_for
from tests.unit.reconciler.fake_store import FakeAdminStore, workspace

ACTIVE, PENDING, DEACTIVATED = MemberStatus.ACTIVE, MemberStatus.PENDING, MemberStatus.DEACTIVATED


def code_of(call: object) -> str:
    with pytest.raises(RuleRefusal) as refusal:
        call()  # type: ignore[operator]
    return refusal.value.code


def test_rule_01_enable_scim_needs_sso_and_happens_once() -> None:
    store = workspace(sso=False, scim=False)
    assert code_of(lambda: sso.enable_scim(store, tenant_id="t", actor="cli")) == "sso_required"
    assert store.audit_log == [] and "scim" not in store.tokens
    sso.configure_sso(store, tenant_id="t", domains=["Acme.test "], provider="saml", actor="cli")
    issued = sso.enable_scim(store, tenant_id="t", actor="cli")
    assert store.tokens["scim"] == [issued.id]
    again = code_of(lambda: sso.enable_scim(store, tenant_id="t", actor="cli"))
    assert again == "scim_already_enabled"
    assert store.tokens["scim"] == [issued.id]  # the IdP's token still works
    assert store.audit_log == [
        ("cli", "configure_sso", "tenant:t", {"domains": ["acme.test"], "provider": "saml"}),
        ("cli", "enable_scim", "tenant:t", {"token_id": issued.id}),
    ]


def test_rotating_the_scim_token_needs_scim_on() -> None:
    store = workspace(scim=False)
    assert code_of(lambda: sso.rotate_scim_token(store, tenant_id="t", actor="cli")) == (
        "scim_disabled"
    )
    sso.enable_scim(store, tenant_id="t", actor="cli")
    rotated = sso.rotate_scim_token(store, tenant_id="t", actor="cli")
    assert store.tokens["scim"] == [rotated.id]
    assert store.actions_audited()[-1] == ("rotate_scim_token", "tenant:t")


def test_disable_scim_revokes_its_tokens_and_keeps_members() -> None:
    store = workspace()
    store.insert_member(
        "t", ActualMember("s", "s@acme.test", "s@acme.test", ACTIVE, scim_user_id="u")
    )
    sso.disable_scim(store, tenant_id="t", actor="adm")
    assert store.policy is not None and not store.policy.scim_enabled
    assert "scim" not in store.tokens and store.members["s"].scim_managed
    assert store.audit_log == [("adm", "disable_scim", "tenant:t", {"tokens_revoked": 1})]


def test_rule_11_sso_removal_turns_sso_and_scim_off_once() -> None:
    store = workspace()
    store.groups["g"] = ActualGroup("g", "Eng (SCIM)", "G1")
    store.insert_member(
        "t", ActualMember("d", "d@acme.test", "d@acme.test", DEACTIVATED, scim_user_id="u1")
    )
    report = sso.remove_sso(store, tenant_id="t", actor="cli")
    assert (report.counts, report.tokens_revoked) == ({"delete_group": 1, "delete_member": 1}, 1)
    assert store.policy is not None
    assert (store.policy.sso_configured, store.policy.scim_enabled) == (False, False)
    assert store.tokens.get("scim") is None and store.tokens["admin"] == ["admin-0"]
    assert store.actions_audited() == [
        ("delete_group", "group:g"),
        ("delete_member", "member:d"),
        ("remove_sso", "tenant:t"),
    ]
    assert code_of(lambda: sso.remove_sso(store, tenant_id="t", actor="cli")) == (
        "sso_not_configured"
    )
    assert code_of(lambda: sso.enable_scim(store, tenant_id="t", actor="cli")) == "sso_required"
    assert len(store.audit_log) == 3


def test_rule_11_status_changes_come_from_the_transition_table() -> None:
    """The cascade's status changes are the table's (status, trigger) rows."""
    store = workspace(page_size=1)
    people = {
        "a-nopw": (ACTIVE, False),
        "b-pw": (ACTIVE, True),
        "c-pending": (PENDING, False),
    }
    for member_id, (status, password) in people.items():
        email = f"{member_id}@acme.test"
        store.insert_member(
            "t",
            ActualMember(
                member_id, email, email, status, has_password=password, scim_user_id=member_id
            ),
        )
    store.members["owner"] = ActualMember(
        "owner", "boss@acme.test", "boss@acme.test", DEACTIVATED, role=Role.OWNER
    )
    sso.remove_sso(store, tenant_id="t", actor="cli")
    statuses = {m.id: m.status for m in store.members.values()}
    expected = {
        "a-nopw": status_after((ACTIVE, None), Trigger.SSO_REMOVED_PASSWORDLESS)[0],
        "b-pw": status_after((ACTIVE, None), Trigger.SSO_REMOVED)[0],
        "c-pending": status_after((PENDING, None), Trigger.SSO_REMOVED_PASSWORDLESS)[0],
        "owner": status_after((DEACTIVATED, None), Trigger.SSO_REMOVED_OWNER)[0],
    }
    assert (
        statuses
        == expected
        == {
            "a-nopw": PENDING,
            "b-pw": ACTIVE,
            "c-pending": PENDING,
            "owner": DEACTIVATED,
        }
    )
    assert sorted(store.invitations) == []  # the admin sends them from the Pending tab
    assert transition_for(DEACTIVATED, Trigger.SSO_REMOVED) is Transition.DELETE


def test_create_workspace_audits_it_and_makes_the_owner() -> None:
    store = FakeAdminStore()
    created = workspaces.create_workspace(
        store,
        name="Acme",
        sso_domains=["acme.test", "Acme.test"],
        idp="okta",
        owner_email="Boss@acme.test",
        actor="cli",
    )
    assert created.sso_domains == ("acme.test",) and created.admin_token
    (owner,) = store.members.values()
    assert (owner.role, owner.status, owner.has_password) == (Role.OWNER, ACTIVE, True)
    assert store.audit_log == [
        (
            "cli",
            "create_workspace",
            f"tenant:{created.id}",
            {
                "name": "Acme",
                "idp": "okta",
                "sso_domains": ["acme.test"],
                "owner_email": "boss@acme.test",
            },
        )
    ]


def test_rotate_admin_token_replaces_the_old_one() -> None:
    store = workspace()
    issued = workspaces.rotate_admin_token(store, tenant_id="t", actor="cli")
    assert store.tokens["admin"] == [issued.id]
    assert store.audit_log == [("cli", "rotate_admin_token", "tenant:t", {"token_id": issued.id})]
    with pytest.raises(NotFound):
        workspaces.rotate_admin_token(store, tenant_id="nope", actor="cli")


def test_sso_removal_and_disconnect_revoke_the_webhook_secrets_too() -> None:
    """Issue 16 item 6: removing SSO revokes every credential that provisions into the
    workspace, webhook signing keys and Okta hook secrets as well as SCIM tokens."""
    for operation in (sso.remove_sso, sso.disconnect_scim):
        store = workspace()
        store.tokens["webhook"] = ["whk-1", "whk-2"]
        store.tokens["okta_hook"] = ["okh-1"]
        report = operation(store, tenant_id="t", actor="cli")
        assert (report.tokens_revoked, report.webhook_secrets_revoked) == (1, 3), operation
        assert "webhook" not in store.tokens and "okta_hook" not in store.tokens
        assert store.audit_log[-1][3]["webhook_secrets_revoked"] == 3
