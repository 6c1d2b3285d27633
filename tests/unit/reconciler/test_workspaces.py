"""The operator's workspace services (reconciler/workspaces.py, the SSO-removal preview,
tenant options) over an in-memory store: refused before anything is written."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler import sso, tenant_options, workspaces
from reconciler.errors import InvalidValue, NotFound, RuleRefusal
from reconciler.model import ActualGroup, ActualMember, MemberStatus
from tests.unit.reconciler.fake_store import FakeAdminStore, workspace


def _create(store: FakeAdminStore, **given: Any) -> Any:
    args: dict[str, Any] = {
        "name": "Beta",
        "sso_domains": ["beta.test"],
        "idp": "okta",
        "owner_email": "owner@beta.test",
    }
    return workspaces.create_workspace(store, **(args | given), actor="cli")


@pytest.mark.parametrize(
    "given",
    [
        {"sso_domains": ["not a domain"]},
        {"sso_domains": ["beta.test", "nodot"]},
        {"owner_email": "nope"},
        {"owner_email": "two@@beta.test"},
        {"name": "   "},
        {"idp": "myspace"},
    ],
)
def test_create_refuses_what_is_not_a_domain_an_email_a_name_or_an_idp(
    given: dict[str, Any],
) -> None:
    store = FakeAdminStore()
    with pytest.raises(InvalidValue):
        _create(store, **given)
    assert store.policy is None and store.audit_log == []


def test_an_sso_domain_belongs_to_one_workspace() -> None:
    store = FakeAdminStore(other_domains={"beta.test": "t-other"})
    with pytest.raises(RuleRefusal) as refused:
        _create(store, sso_domains=["Beta.test"])
    assert refused.value.code == "sso_domain_taken" and "t-other" in refused.value.detail
    assert store.policy is None and store.audit_log == []
    created = _create(store, sso_domains=[" Gamma.TEST "])
    assert created.sso_domains == ("gamma.test",)


def test_configure_sso_refuses_another_workspaces_domain_but_keeps_its_own() -> None:
    store = workspace()
    store.other_domains = {"other.test": "t2"}
    with pytest.raises(RuleRefusal):
        sso.configure_sso(store, tenant_id="t", domains=["other.test"], provider="saml", actor="a")
    sso.configure_sso(store, tenant_id="t", domains=["acme.test"], provider="saml", actor="a")
    with pytest.raises(InvalidValue):
        sso.configure_sso(store, tenant_id="t", domains=["a b"], provider="saml", actor="a")


def test_the_sso_removal_preview_counts_what_the_removal_then_does() -> None:
    store = workspace(page_size=1)
    store.groups["g"] = ActualGroup("g", "Eng (SCIM)", "G1")
    for member_id, status, password in [
        ("d", MemberStatus.DEACTIVATED, False),
        ("p", MemberStatus.ACTIVE, False),
        ("w", MemberStatus.ACTIVE, True),
    ]:
        email = f"{member_id}@acme.test"
        store.insert_member(
            "t",
            ActualMember(
                member_id, email, email, status, has_password=password, scim_user_id=member_id
            ),
        )
    preview = sso.preview_sso_removal(store, tenant_id="t")
    assert store.audit_log == [] and store.applied == []
    heard: list[int] = []
    report = sso.remove_sso(store, tenant_id="t", actor="cli", progress=heard.append)
    assert sum(heard) == sum(report.counts.values()) and len(heard) > 1  # page by page
    assert preview.counts == report.counts and preview.counts["delete_member"] == 1
    assert preview.tokens_revoked == report.tokens_revoked == 1
    with pytest.raises(RuleRefusal):
        sso.preview_sso_removal(store, tenant_id="t")  # SSO is off now
    with pytest.raises(NotFound):
        sso.preview_sso_removal(store, tenant_id="nope")


def test_set_idp_and_options_are_checked_and_audited() -> None:
    store = workspace()
    changed = workspaces.set_idp(store, tenant_id="t", idp="ping", actor="cli")
    assert changed.idp == "ping"
    with pytest.raises(InvalidValue):
        workspaces.set_idp(store, tenant_id="t", idp="nope", actor="cli")
    workspaces.set_options(
        store,
        tenant_id="t",
        changes={"ping.remove_action": "disable", "rate_limit_burst": "50"},
        actor="cli",
    )
    assert store.options == {"ping": {"remove_action": "disable"}, "rate_limit_burst": 50}
    for bad in ({"ping.remove_action": "explode"}, {"colour": "red"}, {"rate_limit_burst": 0}):
        with pytest.raises(InvalidValue):
            workspaces.set_options(store, tenant_id="t", changes=bad, actor="cli")
    workspaces.set_options(store, tenant_id="t", changes={"ping.remove_action": None}, actor="cli")
    assert store.options == {"rate_limit_burst": 50}
    assert [a for a, _ in store.actions_audited()] == ["set_idp", "set_options", "set_options"]
    with pytest.raises(NotFound):
        workspaces.get_workspace(store, tenant_id="nope")


def test_options_keep_what_they_do_not_know_and_flatten_what_they_do() -> None:
    current = {"ping": {"unique_attribute": "workEmail"}, "legacy": 1}
    merged = tenant_options.merged(current, {"rate_limit_per_second": 2})
    assert merged == {
        "ping": {"unique_attribute": "workEmail"},
        "legacy": 1,
        "rate_limit_per_second": 2.0,
    }
    assert tenant_options.flattened(merged) == {
        "rate_limit_per_second": 2.0,
        "ping.unique_attribute": "workEmail",
    }
    assert current == {"ping": {"unique_attribute": "workEmail"}, "legacy": 1}  # not mutated
