"""What the mirror's indexed columns hold for a SCIM resource (storage/projection.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.validation import looks_like_email
from storage.projection import (
    fold,
    group_columns,
    rule_email,
    user_columns,
    user_value_rows,
)

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def test_rule_email_prefers_the_primary_email() -> None:
    user = {
        "userName": "bjensen@example.com",
        "emails": [
            {"value": "home@example.org", "type": "home"},
            {"value": "work@example.com", "type": "work", "primary": True},
        ],
    }
    assert rule_email(user) == "work@example.com"


def test_rule_email_falls_back_to_the_first_email() -> None:
    user = {
        "userName": "bjensen@example.com",
        "emails": [{"value": "first@example.com"}, {"value": "second@example.com"}],
    }
    assert rule_email(user) == "first@example.com"


def test_rule_email_skips_emails_without_a_value() -> None:
    user = {"userName": "bj", "emails": [{"type": "work", "primary": True}, {"value": "b@x.io"}]}
    assert rule_email(user) == "b@x.io"


def test_rule_email_uses_user_name_only_when_it_is_an_address() -> None:
    assert rule_email({"userName": "bjensen@example.com"}) == "bjensen@example.com"
    assert rule_email({"userName": "bjensen"}) is None
    assert rule_email({"userName": "bjensen@localhost"}) is None
    assert rule_email({"userName": "b jensen@example.com"}) is None


def test_primary_must_be_a_real_boolean() -> None:
    user = {"emails": [{"value": "a@x.io"}, {"value": "b@x.io", "primary": "true"}]}
    assert rule_email(user) == "a@x.io"


def test_attribute_names_are_case_insensitive() -> None:
    user = {
        "USERNAME": "BJensen",
        "Emails": [{"Value": "BJ@Example.com", "PRIMARY": True, "Type": "Work"}],
        "NAME": {"GivenName": "Barbara", "familyname": "Jensen", "Formatted": "Ms B Jensen"},
        "ExternalID": "abc",
        "displayname": "Babs",
        "Active": False,
    }
    columns = user_columns(user)
    assert columns == {
        "user_name": "BJensen",
        "user_name_ci": "bjensen",
        "external_id": "abc",
        "display_name": "Babs",
        "given_name": "Barbara",
        "family_name": "Jensen",
        "formatted_name": "Ms B Jensen",
        "email_ci": "bj@example.com",
        "active": False,
        "has_password": False,
    }
    [row] = user_value_rows("t1", "u1", user)
    assert (row["attr"], row["value"], row["value_ci"], row["type"], row["primary"]) == (
        "emails",
        "BJ@Example.com",
        "bj@example.com",
        "Work",
        True,
    )


def test_user_columns_defaults() -> None:
    columns = user_columns({"userName": "bj"})
    assert columns["active"] is True
    assert columns["email_ci"] is None
    assert columns["external_id"] is None and columns["given_name"] is None


def test_has_password_needs_a_non_empty_password() -> None:
    assert user_columns({"userName": "bj", "password": "s3cret"})["has_password"] is True
    assert user_columns({"userName": "bj", "password": ""})["has_password"] is False


def test_active_must_be_a_boolean() -> None:
    with pytest.raises(ValueError, match="active"):
        user_columns({"userName": "bj", "active": "false"})


def test_user_name_is_required() -> None:
    with pytest.raises(ValueError, match="userName"):
        user_columns({"displayName": "no user name"})


def test_value_rows_cover_every_multi_valued_attribute_in_order() -> None:
    user = {
        "userName": "bj",
        "emails": [{"value": "a@x.io"}, {"value": "B@x.io", "type": "work", "primary": True}],
        "phoneNumbers": [{"value": "+1 555", "type": "mobile", "display": "cell"}],
        "addresses": [{"formatted": "1 Main St", "locality": "Springfield", "type": "home"}],
        "roles": [{"value": "Admin"}],
        "entitlements": [{"value": "E1"}],
        "ims": [{"value": "bj@im", "type": "xmpp"}],
        "photos": [{"value": "https://x.io/p.png", "type": "photo"}],
        "x509Certificates": [{"value": "TUlJQw=="}],
        ENTERPRISE: {"department": "R&D"},
    }
    rows = user_value_rows("t1", "u1", user)
    summary = [(r["attr"], r["position"], r["value"], r["primary"]) for r in rows]
    assert summary == [
        ("emails", 0, "a@x.io", False),
        ("emails", 1, "B@x.io", True),
        ("phoneNumbers", 0, "+1 555", False),
        ("ims", 0, "bj@im", False),
        ("photos", 0, "https://x.io/p.png", False),
        ("addresses", 0, "1 Main St", False),
        ("entitlements", 0, "E1", False),
        ("roles", 0, "Admin", False),
        ("x509Certificates", 0, "TUlJQw==", False),
    ]
    assert all(r["tenant_id"] == "t1" and r["user_id"] == "u1" for r in rows)
    assert rows[2]["display"] == "cell" and rows[2]["type"] == "mobile"
    assert rows[1]["value_ci"] == "b@x.io"


def test_value_rows_keep_positions_when_items_are_skipped() -> None:
    rows = user_value_rows("t", "u", {"emails": ["junk", {"value": "a@x.io"}]})
    assert [(r["position"], r["value"]) for r in rows] == [(1, "a@x.io")]


def test_group_columns() -> None:
    group = {"DisplayName": "Engineering", "externalId": "G-1", "members": [{"value": "u1"}]}
    assert group_columns(group) == {
        "display_name": "Engineering",
        "display_name_ci": "engineering",
        "external_id": "G-1",
    }
    with pytest.raises(ValueError, match="displayName"):
        group_columns({"members": []})


def test_fold_is_nfc_and_lower_case() -> None:
    assert fold("E\u0301MILE") == "\u00e9mile"  # decomposed É folds to composed é
    assert fold("Straße") == "straße"


@given(st.text())
def test_fold_is_idempotent(text: str) -> None:
    assert fold(fold(text)) == fold(text)


# What the email-shape pattern `[^@\s]+@[^@\s]+\.[^@\s]+` fully matched, which
# `looks_like_email` decides in one pass instead (issue 16: the pattern was quadratic).
_OLD_EMAIL_SHAPE = r"[^@\s]+@[^@\s]+\.[^@\s]+"


@given(st.text(alphabet="a.@ \t\u00a0é", max_size=12))
def test_looks_like_email_agrees_with_the_pattern_it_replaced(text: str) -> None:
    import re

    assert looks_like_email(text) == bool(re.fullmatch(_OLD_EMAIL_SHAPE, text))


def test_looks_like_email_is_linear_on_a_near_address() -> None:
    import time

    started = time.process_time()
    assert not looks_like_email("a@" + "." * 1_000_000 + "@")
    assert time.process_time() - started < 0.5  # the pattern needed ~6 s at 20,000 dots
