"""SCIM PATCH on stored users and groups: RFC 7644 §3.5.2 and the IdP quirks we accept.

Tests named `test_entra_*` / `test_okta_*` replay the request shapes those IdPs send.
"""

from __future__ import annotations

from typing import Any

import pytest

from events.scim.patch.document import GroupPatch, patch_group, patch_user
from reconciler.errors import (
    InvalidFilter,
    InvalidPath,
    InvalidSyntax,
    InvalidValue,
    Mutability,
    NoTarget,
    Refusal,
    TooMany,
)

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def user(**extra: Any) -> dict[str, Any]:
    return {
        "schemas": [CORE],
        "id": "u-1",
        "userName": "bjensen@example.com",
        "active": True,
        "emails": [{"value": "bjensen@example.com", "type": "work", "primary": True}],
        **extra,
    }


def group(**extra: Any) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "id": "g-1",
        "displayName": "Engineering",
        **extra,
    }


def op(kind: str, path: str | None = None, value: Any = ..., **extra: Any) -> dict[str, Any]:
    operation: dict[str, Any] = {"op": kind, **extra}
    if path is not None:
        operation["path"] = path
    if value is not ...:
        operation["value"] = value
    return operation


def members(*ids: str) -> list[dict[str, str]]:
    return [{"value": member_id} for member_id in ids]


# --- Microsoft Entra ID ---------------------------------------------------------------


def test_entra_capitalised_ops() -> None:
    patched = patch_user(
        user(title="Dev"),
        [
            op("Replace", "displayName", "Babs"),
            op("Add", "nickName", "Babs J"),
            op("Remove", "title"),
        ],
    )
    assert patched["displayName"] == "Babs"
    assert patched["nickName"] == "Babs J"
    assert "title" not in patched


def test_entra_boolean_strings_for_active() -> None:
    assert patch_user(user(), [op("Replace", "active", "False")])["active"] is False
    assert patch_user(user(active=False), [op("Replace", "active", "True")])["active"] is True


def test_entra_boolean_string_other_than_true_false_is_refused() -> None:
    with pytest.raises(InvalidValue):
        patch_user(user(), [op("Replace", "active", "no")])


def test_entra_primary_as_string() -> None:
    patched = patch_user(
        user(),
        [op("Add", "emails", [{"value": "b@home.example", "type": "home", "primary": "True"}])],
    )
    primaries = [e["value"] for e in patched["emails"] if e.get("primary")]
    assert primaries == ["b@home.example"]


def test_entra_replace_filtered_email_adds_missing_work_email() -> None:
    patched = patch_user(
        user(emails=[{"value": "b@home.example", "type": "home"}]),
        [op("Replace", 'emails[type eq "work"].value', "b@work.example")],
    )
    assert patched["emails"] == [
        {"value": "b@home.example", "type": "home"},
        {"type": "work", "value": "b@work.example"},
    ]


def test_entra_replace_filtered_email_updates_existing_case_insensitively() -> None:
    patched = patch_user(
        user(emails=[{"value": "old@example.com", "type": "Work"}]),
        [op("Replace", 'emails[type eq "work"].value', "new@example.com")],
    )
    assert patched["emails"] == [{"value": "new@example.com", "type": "Work"}]


def test_entra_add_address_sub_attribute_by_filter() -> None:
    patched = patch_user(
        user(),
        [
            op("Add", 'addresses[type eq "work"].streetAddress', "1 Main St"),
            op("Add", 'addresses[type eq "work"].locality', "Springfield"),
        ],
    )
    assert patched["addresses"] == [
        {"type": "work", "streetAddress": "1 Main St", "locality": "Springfield"}
    ]


def test_entra_replace_whole_phone_number_by_filter() -> None:
    patched = patch_user(
        user(phoneNumbers=[{"value": "111", "type": "mobile"}]),
        [op("Replace", 'phoneNumbers[type eq "mobile"]', {"value": "222", "type": "mobile"})],
    )
    assert patched["phoneNumbers"] == [{"value": "222", "type": "mobile"}]


def test_entra_manager_as_bare_id() -> None:
    patched = patch_user(user(), [op("Add", f"{ENTERPRISE}:manager", "mgr-42")])
    assert patched[ENTERPRISE] == {"manager": {"value": "mgr-42"}}
    assert patched["schemas"] == [CORE, ENTERPRISE]


def test_entra_remove_manager_drops_empty_extension_and_its_schema() -> None:
    start = user(schemas=[CORE, ENTERPRISE], **{ENTERPRISE: {"manager": {"value": "mgr-42"}}})
    patched = patch_user(start, [op("Remove", f"{ENTERPRISE}:manager")])
    assert ENTERPRISE not in patched
    assert patched["schemas"] == [CORE]


def test_entra_no_path_with_dotted_and_urn_keys() -> None:
    patched = patch_user(
        user(),
        [
            op(
                "Replace",
                value={
                    "name.givenName": "Barbara",
                    "name.familyName": "Jensen",
                    f"{ENTERPRISE}:department": "R&D",
                    'emails[type eq "work"].value': "barbara@example.com",
                },
            )
        ],
    )
    assert patched["name"] == {"givenName": "Barbara", "familyName": "Jensen"}
    assert patched[ENTERPRISE] == {"department": "R&D"}
    assert patched["emails"][0]["value"] == "barbara@example.com"


def test_entra_null_values_remove_attributes() -> None:
    patched = patch_user(
        user(title="Dev", name={"givenName": "B", "familyName": "J"}),
        [
            op("Replace", value={"title": None, "name.givenName": None}),
            op("Replace", "nickName", None),
        ],
    )
    assert "title" not in patched
    assert patched["name"] == {"familyName": "J"}


def test_entra_remove_members_with_value_list() -> None:
    result = patch_group(group(), [op("Remove", "members", members("a", "b"))])
    assert result.remove_members == {"a", "b"}
    assert result.apply_to({"a", "b", "c"}) == {"c"}


def test_entra_member_ref_null_is_ignored() -> None:
    result = patch_group(group(), [op("Add", "members", [{"value": "a", "$ref": None}])])
    assert result.add_members == {"a"}


# --- Okta -----------------------------------------------------------------------------


def test_okta_no_path_replace_with_id() -> None:
    patched = patch_user(user(), [op("replace", value={"id": "u-1", "active": False})])
    assert patched["id"] == "u-1"
    assert patched["active"] is False


def test_okta_no_path_replace_with_another_id_is_refused() -> None:
    with pytest.raises(Mutability):
        patch_user(user(), [op("replace", value={"id": "u-2", "active": False})])


def test_okta_group_rename_with_id() -> None:
    result = patch_group(group(), [op("replace", value={"id": "g-1", "displayName": "Eng"})])
    assert result.resource["displayName"] == "Eng"
    assert not result.changes_members


def test_okta_remove_member_by_value_filter() -> None:
    result = patch_group(group(), [op("remove", 'members[value eq "a" or value eq "b"]')])
    assert result.remove_members == {"a", "b"}
    assert result.add_members == frozenset()


def test_okta_add_members_with_display() -> None:
    result = patch_group(group(), [op("add", "members", [{"value": "a", "display": "Ann"}])])
    assert result.add_members == {"a"}
    assert "members" not in result.resource


# --- RFC 7644 §3.5.2 semantics --------------------------------------------------------


def test_add_to_multi_valued_appends_and_merges_same_value() -> None:
    patched = patch_user(
        user(),
        [
            op(
                "add",
                "emails",
                [
                    {"value": "BJensen@Example.com", "type": "work"},
                    {"value": "b@home.example", "type": "home"},
                ],
            )
        ],
    )
    assert [e["value"] for e in patched["emails"]] == ["BJensen@Example.com", "b@home.example"]


def test_add_complex_merges_sub_attributes() -> None:
    patched = patch_user(
        user(name={"givenName": "B", "familyName": "J"}),
        [op("add", "name", {"familyName": "Jensen", "middleName": "M"})],
    )
    assert patched["name"] == {"givenName": "B", "familyName": "Jensen", "middleName": "M"}


def test_replace_multi_valued_replaces_every_value() -> None:
    patched = patch_user(user(), [op("replace", "emails", [{"value": "x@example.com"}])])
    assert patched["emails"] == [{"value": "x@example.com"}]


def test_primary_true_clears_the_other_primaries() -> None:
    patched = patch_user(
        user(),
        [op("add", "emails", [{"value": "b@home.example", "type": "home", "primary": True}])],
    )
    assert [e.get("primary") for e in patched["emails"]] == [False, True]


def test_two_primaries_in_one_value_are_refused() -> None:
    with pytest.raises(InvalidValue):
        patch_user(
            user(),
            [
                op(
                    "replace",
                    "emails",
                    [
                        {"value": "a@example.com", "primary": True},
                        {"value": "b@example.com", "primary": True},
                    ],
                )
            ],
        )


def test_remove_by_filter() -> None:
    start = user(phoneNumbers=[{"value": "1", "type": "mobile"}, {"value": "2", "type": "work"}])
    patched = patch_user(start, [op("remove", 'phoneNumbers[type eq "mobile"]')])
    assert patched["phoneNumbers"] == [{"value": "2", "type": "work"}]


def test_remove_with_unmatched_filter_is_a_no_op() -> None:
    assert patch_user(user(), [op("remove", 'emails[type eq "home"]')]) == user()


def test_remove_sub_attribute_of_filtered_values() -> None:
    patched = patch_user(user(), [op("remove", 'emails[type eq "work"].primary')])
    assert patched["emails"] == [{"value": "bjensen@example.com", "type": "work"}]


def test_remove_last_value_unassigns_the_attribute() -> None:
    patched = patch_user(user(), [op("remove", 'emails[value eq "BJENSEN@example.com"]')])
    assert "emails" not in patched


def test_remove_multi_valued_by_value() -> None:
    start = user(roles=[{"value": "admin"}, {"value": "dev"}])
    patched = patch_user(start, [op("remove", "roles", [{"value": "admin"}])])
    assert patched["roles"] == [{"value": "dev"}]


def test_replace_unmatched_filter_that_describes_no_item_is_no_target() -> None:
    with pytest.raises(NoTarget):
        patch_user(user(), [op("replace", 'emails[type ne "work"].value', "x@example.com")])


def test_case_exact_sub_attribute_compares_exactly() -> None:
    start = user(photos=[{"value": "https://cdn.example/A.png"}])
    unchanged = patch_user(start, [op("remove", 'photos[value eq "https://cdn.example/a.png"]')])
    assert unchanged["photos"] == start["photos"]
    removed = patch_user(start, [op("remove", 'photos[value eq "https://cdn.example/A.png"]')])
    assert "photos" not in removed


def test_names_are_case_insensitive_and_stored_canonically() -> None:
    patched = patch_user(
        user(),
        [
            op("add", "NAME.GIVENNAME", "B"),
            op("add", value={"DisplayName": "Babs", "Name": {"FamilyName": "J"}}),
            op("replace", 'EMAILS[TYPE eq "work"].VALUE', "b@example.com"),
        ],
    )
    assert patched["name"] == {"givenName": "B", "familyName": "J"}
    assert patched["displayName"] == "Babs"
    assert patched["emails"][0]["value"] == "b@example.com"


def test_urn_qualified_core_path() -> None:
    patched = patch_user(user(), [op("add", f"{CORE}:name.familyName", "Jensen")])
    assert patched["name"] == {"familyName": "Jensen"}


def test_bare_extension_urn_path_takes_an_object() -> None:
    patched = patch_user(
        user(), [op("add", ENTERPRISE, {"employeeNumber": "42", "manager": {"value": "m"}})]
    )
    assert patched[ENTERPRISE] == {"employeeNumber": "42", "manager": {"value": "m"}}


def test_read_only_sub_attribute_in_a_value_is_ignored() -> None:
    value = {"value": "m", "displayName": "Boss"}
    patched = patch_user(user(), [op("add", f"{ENTERPRISE}:manager", value)])
    assert patched[ENTERPRISE]["manager"] == {"value": "m"}


def test_password_is_writable() -> None:
    assert patch_user(user(), [op("replace", "password", "s3cret!")])["password"] == "s3cret!"


def test_patch_never_mutates_its_input() -> None:
    start = user(name={"givenName": "B"})
    patch_user(start, [op("add", "name.familyName", "J"), op("remove", "emails")])
    assert start == user(name={"givenName": "B"})


# --- refusals -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operations", "error"),
    [
        ([], InvalidValue),
        ("not a list", InvalidSyntax),
        (["not an object"], InvalidSyntax),
        ([{"path": "title", "value": "x"}], InvalidSyntax),
        ([op("move", "title", "x")], InvalidValue),
        ([op("add", "title")], InvalidValue),
        ([op("add", value="not an object")], InvalidValue),
        ([op("remove")], NoTarget),
        ([op("add", "shoeSize", "42")], InvalidPath),
        ([op("add", "name.nickname", "B")], InvalidPath),
        ([op("add", value={"shoeSize": 42})], InvalidPath),
        ([op("add", "name", {"shoeSize": "42"})], InvalidPath),
        (
            [op("add", "urn:example:params:scim:schemas:extension:acme:2.0:User:badge", "1")],
            InvalidPath,
        ),
        ([op("add", 'emails[type eq "work"', "x")], InvalidPath),
        ([op("add", 'name[givenName eq "x"]', "x")], InvalidPath),
        ([op("replace", 'emails[shoe eq "x"].value', "x")], InvalidFilter),
        ([op("replace", "title", 42)], InvalidValue),
        ([op("replace", "name", "Barbara")], InvalidValue),
        ([op("replace", "meta", {"version": "W/1"})], Mutability),
        ([op("add", "groups", [{"value": "g"}])], Mutability),
        ([op("remove", "id")], Mutability),
        ([op("remove", f"{ENTERPRISE}:manager.displayName")], Mutability),
        ([op("remove", "schemas")], Mutability),
        ([op("add", "schemas", ["urn:example:unknown:schema"])], InvalidValue),
        ([op("remove", "userName")], InvalidValue),
        ([op("replace", "userName", None)], InvalidValue),
    ],
)
def test_user_refusals(operations: Any, error: type[Refusal]) -> None:
    start = user()
    with pytest.raises(error):
        patch_user(start, operations)
    assert start == user()


def test_known_schemas_value_is_accepted_and_ignored() -> None:
    patched = patch_user(user(), [op("replace", value={"schemas": [CORE], "title": "Dev"})])
    assert patched["schemas"] == [CORE]
    assert patched["title"] == "Dev"


def test_too_many_operations() -> None:
    operations = [op("replace", "title", str(n)) for n in range(11)]
    with pytest.raises(TooMany) as caught:
        patch_user(user(), operations, max_operations=10)
    assert (caught.value.status, caught.value.scim_type) == (400, "tooMany")
    assert patch_user(user(), operations[:10], max_operations=10)["title"] == "9"


def test_refusal_names_the_failing_operation() -> None:
    with pytest.raises(InvalidPath, match=r"Operations\[1\]"):
        patch_user(user(), [op("add", "title", "x"), op("add", "shoeSize", "42")])


# --- groups ---------------------------------------------------------------------------


def test_group_add_then_remove_member_adds_nothing() -> None:
    result = patch_group(
        group(), [op("add", "members", members("x")), op("remove", 'members[value eq "x"]')]
    )
    assert result.add_members == frozenset()
    assert result.apply_to({"a"}) == {"a"}


def test_group_replace_then_add_is_the_union() -> None:
    result = patch_group(
        group(), [op("replace", "members", members("a")), op("add", "members", members("b"))]
    )
    assert result.replace_members == {"a", "b"}
    assert result.apply_to({"z"}) == {"a", "b"}


def test_group_remove_all_then_add() -> None:
    result = patch_group(group(), [op("remove", "members"), op("add", "members", members("b"))])
    assert result.apply_to({"a"}) == {"b"}


def test_group_remove_members_without_value_removes_all() -> None:
    result = patch_group(group(), [op("remove", "members")])
    assert result == GroupPatch(group(), remove_all_members=True)


def test_group_replace_members_with_empty_list_removes_all() -> None:
    assert patch_group(group(), [op("replace", "members", [])]).remove_all_members


def test_group_no_path_add_with_members() -> None:
    result = patch_group(group(), [op("add", value={"members": members("a", "b")})])
    assert result.add_members == {"a", "b"}


def test_group_members_are_never_returned_in_the_resource() -> None:
    result = patch_group(group(members=members("old")), [op("replace", "displayName", "Eng")])
    assert result.resource == group(displayName="Eng")


@pytest.mark.parametrize(
    ("operations", "error"),
    [
        ([op("remove", 'members[display eq "Ann"]')], InvalidFilter),
        ([op("remove", 'members[value ne "a"]')], InvalidFilter),
        ([op("add", 'members[value eq "a"]', {"value": "a"})], InvalidPath),
        ([op("replace", 'members[value eq "a"].display', "Ann")], InvalidPath),
        ([op("add", "members", [{"display": "Ann"}])], InvalidValue),
        ([op("add", "members", [{"value": ""}])], InvalidValue),
        ([op("add", "members", ["a"])], InvalidValue),
        ([op("remove", "displayName")], InvalidValue),
    ],
)
def test_group_refusals(operations: list[dict[str, Any]], error: type[Refusal]) -> None:
    with pytest.raises(error):
        patch_group(group(), operations)


def test_group_adding_50k_members_in_one_operation() -> None:
    ids = [f"user-{n}" for n in range(50_000)]
    result = patch_group(
        group(),
        [op("add", "members", members(*ids)), op("remove", "members", members(*ids[:1000]))],
    )
    assert len(result.add_members) == 49_000
    assert result.remove_members == set(ids[:1000])
