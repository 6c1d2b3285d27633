"""The pure rules behind the admin API's own checks (reconciler/rules.py)."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler import rules
from reconciler.errors import RuleRefusal
from reconciler.model import Access, ActualMember, MemberStatus, TenantPolicy

POLICY = TenantPolicy("t", sso_domains=frozenset({"acme.test"}), sso_configured=True)


def member(status: MemberStatus = MemberStatus.PENDING) -> ActualMember:
    return ActualMember("m1", "Ann@Acme.test", "ann@acme.test", status)


def code_of(check: Callable[..., None], *args: object) -> str | None:
    try:
        check(*args)
    except RuleRefusal as refusal:
        return refusal.code
    return None


def test_enable_scim_needs_sso_and_is_not_repeated() -> None:
    assert code_of(rules.check_admin_enable_scim, TenantPolicy("t")) == "sso_required"
    assert code_of(rules.check_admin_enable_scim, POLICY) is None
    enabled = TenantPolicy("t", sso_configured=True, scim_enabled=True)
    assert code_of(rules.check_admin_enable_scim, enabled) == "scim_already_enabled"
    assert code_of(rules.check_enable_scim, enabled) is None  # rule 1 alone allows a re-enable


def test_invite_refuses_an_existing_member() -> None:
    assert code_of(rules.check_admin_invite, None) is None
    assert code_of(rules.check_admin_invite, member()) == "already_member"


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (MemberStatus.PENDING, None),
        (MemberStatus.ACTIVE, "not_pending"),
        (MemberStatus.DEACTIVATED, "not_pending"),
    ],
)
def test_only_pending_members_accept_invitations(status: MemberStatus, code: str | None) -> None:
    assert code_of(rules.check_accept_invitation, member(status)) == code


def test_group_names_clash_case_insensitively() -> None:
    assert code_of(rules.check_group_name_free, "Design", {"design"}) == "name_taken"
    assert code_of(rules.check_group_name_free, "Design", {"design (scim)"}) is None


def test_sso_removal_needs_sso() -> None:
    assert code_of(rules.check_sso_removal, TenantPolicy("t")) == "sso_not_configured"
    assert code_of(rules.check_sso_removal, POLICY) is None


def test_effective_permissions_take_the_best_access_per_path() -> None:
    grants = [
        ("/a", Access.READ),
        ("/a", Access.ADMIN),
        ("/a", Access.WRITE),
        ("/b", Access.WRITE),
        ("/b", Access.READ),
    ]
    assert rules.effective_permissions(grants) == {"/a": Access.ADMIN, "/b": Access.WRITE}
    assert rules.effective_permissions([]) == {}


grant_lists = st.lists(
    st.tuples(st.sampled_from(["/a", "/a/b", "/c", "/"]), st.sampled_from(list(Access)))
)


@given(grant_lists, st.randoms())
def test_effective_permissions_are_the_union_with_the_maximum(
    grants: list[tuple[str, Access]], rnd: random.Random
) -> None:
    result = rules.effective_permissions(grants)
    assert set(result) == {path for path, _ in grants}
    for path, access in result.items():
        ranks = [rules.ACCESS_RANK[a] for p, a in grants if p == path]
        assert rules.ACCESS_RANK[access] == max(ranks)
    shuffled = list(grants)
    rnd.shuffle(shuffled)
    assert rules.effective_permissions(shuffled) == result  # the order of groups never matters
