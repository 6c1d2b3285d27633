"""Properties of SCIM PATCH that must hold for every input, checked with hypothesis."""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Callable
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from events.scim.patch.document import patch_group, patch_user
from reconciler.errors import Refusal

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

BASE_USER: dict[str, Any] = {
    "schemas": [CORE, ENTERPRISE],
    "id": "u-1",
    "userName": "bjensen@example.com",
    "active": True,
    "name": {"givenName": "Barbara", "familyName": "Jensen"},
    "emails": [
        {"value": "bjensen@example.com", "type": "work", "primary": True},
        {"value": "babs@home.example", "type": "home"},
    ],
    "phoneNumbers": [{"value": "555-0100", "type": "mobile"}],
    ENTERPRISE: {"department": "R&D", "manager": {"value": "m-1"}},
}
BASE_GROUP: dict[str, Any] = {"id": "g-1", "displayName": "Engineering"}

texts = st.text(max_size=12)
json_scalars = st.none() | st.booleans() | st.integers() | texts
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)

# Replace operations on paths users actually carry, with values of the right type.
string_paths = st.sampled_from(
    [
        "displayName",
        "title",
        "name.givenName",
        "name.familyName",
        'emails[type eq "work"].value',
        'emails[type eq "other"].value',
        'addresses[type eq "work"].locality',
        'phoneNumbers[type eq "mobile"].value',
        f"{ENTERPRISE}:department",
        f"{ENTERPRISE}:manager",
        f"{CORE}:nickName",
    ]
)
replace_ops = st.one_of(
    st.builds(
        lambda path, value: {"op": "replace", "path": path, "value": value},
        string_paths,
        st.text(min_size=1, max_size=12),
    ),
    st.builds(
        lambda value: {"op": "Replace", "path": "active", "value": value},
        st.sampled_from([True, False, "True", "False"]),
    ),
)

# Path text built from the pieces real paths are made of, plus noise: parser torture.
path_pieces = st.sampled_from(
    [
        "emails",
        "name",
        "members",
        "active",
        "manager",
        "value",
        "type",
        "givenName",
        "x",
        "[",
        "]",
        ".",
        ":",
        " ",
        '"work"',
        " eq ",
        " ne ",
        " co ",
        " pr",
        " and ",
        " or ",
        "not ",
        "(",
        ")",
        "true",
        "null",
        "42",
        "$ref",
        f"{ENTERPRISE}:",
        f"{CORE}:",
        "urn:a:b:",
        "\\",
    ]
)
known_paths = string_paths | st.sampled_from(
    [
        "emails",
        "name",
        "active",
        "members",
        "meta",
        "id",
        "schemas",
        "groups",
        "roles",
        'emails[type eq "work"]',
        'emails[value co "@"].primary',
        "emails.primary",
        "emails pr",
        'members[value eq "m1"]',
        'members[value eq "m1"].display',
        ENTERPRISE,
        f"{ENTERPRISE}:manager.value",
        'phoneNumbers[not (type eq "work")]',
    ]
)
random_paths = st.one_of(
    known_paths,
    st.lists(path_pieces, min_size=1, max_size=10).map("".join),
    st.text(max_size=30),
)
random_ops = st.fixed_dictionaries(
    {"op": st.sampled_from(["add", "remove", "replace", "Add", "bogus"])},
    optional={
        "path": random_paths,
        "value": json_values | st.dictionaries(known_paths, json_values),
    },
)

sub_values = st.none() | st.booleans() | texts | st.sampled_from(["True", "false", "work"])
items = st.dictionaries(
    st.sampled_from(["value", "type", "primary", "display", "givenName", "$ref", "Value"]),
    sub_values,
    max_size=4,
)
plausible_ops = st.fixed_dictionaries(
    {
        "op": st.sampled_from(["add", "remove", "replace", "Add", "Replace", "Remove"]),
        "path": known_paths,
        "value": sub_values | items | st.lists(items, max_size=3),
    }
)


@given(replace_ops)
def test_applying_the_same_replace_twice_equals_once(operation: dict[str, Any]) -> None:
    once = patch_user(BASE_USER, [operation])
    assert patch_user(BASE_USER, [operation, operation]) == once
    assert patch_user(once, [operation]) == once


@given(st.lists(random_ops, min_size=1, max_size=4))
def test_patch_never_mutates_input_and_fails_only_with_refusals(
    operations: list[dict[str, Any]],
) -> None:
    user_before, group_before = copy.deepcopy(BASE_USER), copy.deepcopy(BASE_GROUP)
    for patch in (patch_user, patch_group):
        resource = BASE_USER if patch is patch_user else BASE_GROUP
        with contextlib.suppress(Refusal):
            patch(resource, copy.deepcopy(operations))
    assert user_before == BASE_USER
    assert group_before == BASE_GROUP


@given(st.text(max_size=12).filter(lambda v: v.casefold() not in {"work", "home"}), st.emails())
def test_adding_then_removing_an_email_by_its_type_leaves_the_user_unchanged(
    email_type: str,
    address: str,
) -> None:
    patched = patch_user(
        BASE_USER,
        [
            {"op": "add", "path": "emails", "value": [{"value": address, "type": email_type}]},
            {"op": "remove", "path": f"emails[type eq {json.dumps(email_type)}]"},
        ],
    )
    assert patched == BASE_USER


member_ids = st.sets(st.sampled_from([f"m{n}" for n in range(8)]), max_size=5)


@given(member_ids, st.sampled_from([f"m{n}" for n in range(8)]))
def test_adding_then_removing_a_member_leaves_the_set_unchanged(
    current: set[str],
    member: str,
) -> None:
    result = patch_group(
        BASE_GROUP,
        [
            {"op": "add", "path": "members", "value": [{"value": member}]},
            {"op": "remove", "path": f'members[value eq "{member}"]'},
        ],
    )
    assert result.apply_to(current - {member}) == current - {member}


def _values(ids: set[str]) -> list[dict[str, str]]:
    return [{"value": i} for i in sorted(ids)]


def _filter(ids: set[str]) -> str:
    return "members[" + " or ".join(f'value eq "{i}"' for i in sorted(ids)) + "]"


# Each member operation next to its effect on a Python set: the model the engine must match.
MEMBER_OPS: dict[str, tuple[Callable[[set[str]], dict[str, Any]], Callable[..., set[str]]]] = {
    "add": (
        lambda ids: {"op": "add", "path": "members", "value": _values(ids)},
        lambda s, ids: s | ids,
    ),
    "add_no_path": (
        lambda ids: {"op": "Add", "value": {"members": _values(ids)}},
        lambda s, ids: s | ids,
    ),
    "remove": (
        lambda ids: {"op": "remove", "path": "members", "value": _values(ids)},
        lambda s, ids: s - ids,
    ),
    "remove_filter": (
        lambda ids: {"op": "remove", "path": _filter(ids or {"m0"})},
        lambda s, ids: s - (ids or {"m0"}),
    ),
    "remove_all": (lambda ids: {"op": "remove", "path": "members"}, lambda s, ids: set()),
    "replace": (
        lambda ids: {"op": "replace", "path": "members", "value": _values(ids)},
        lambda s, ids: set(ids),
    ),
}


member_steps = st.lists(
    st.tuples(
        st.sampled_from(sorted(MEMBER_OPS)),
        member_ids,
    ),
    min_size=1,
    max_size=8,
)


@given(member_ids, member_steps)
def test_group_net_effect_equals_applying_each_operation_to_a_set(
    current: set[str],
    steps: list[tuple[str, set[str]]],
) -> None:
    operations, expected = [], set(current)
    for kind, ids in steps:
        build, effect = MEMBER_OPS[kind]
        operations.append(build(ids))
        expected = effect(expected, ids)
    result = patch_group(BASE_GROUP, operations)
    assert result.apply_to(current) == expected
    shapes = [
        bool(result.add_members or result.remove_members),
        result.replace_members is not None,
        result.remove_all_members,
    ]
    assert sum(shapes) <= 1
    assert not result.add_members & result.remove_members


@given(st.lists(plausible_ops, min_size=1, max_size=5))
def test_any_accepted_user_patch_keeps_the_stored_shape_valid(
    operations: list[dict[str, Any]],
) -> None:
    before = copy.deepcopy(BASE_USER)
    try:
        patched = patch_user(BASE_USER, operations)
    except Refusal:
        return
    assert before == BASE_USER
    stored = {**patched, **patched.get(ENTERPRISE, {})}
    for name, value in stored.items():
        assert value not in ([], {}, None)
        if isinstance(value, list) and name != "schemas":
            assert sum(1 for item in value if item.get("primary") is True) <= 1
            assert all(item for item in value)
    assert (ENTERPRISE in patched) == (ENTERPRISE in patched["schemas"])
    assert patched["userName"] == BASE_USER["userName"]
