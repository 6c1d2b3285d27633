"""Adversarial PATCH: random unicode paths and values, deep nesting, huge numbers. In
process only our Refusal errors may escape; over HTTP no 5xx, a refused PATCH changes
nothing, and an accepted one leaves a resource that still reads back.

(tests/unit/events/scim/patch/test_patch_properties.py covers PATCH semantics
with plausible operations.)
"""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from events.scim.patch.document import patch_group, patch_user
from reconciler.errors import Refusal
from tests.security.conftest import assert_no_leak, row_counts
from tests.support.workspace import TenantHandle, group_body, user_body

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
USER = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    "id": "u1",
    "userName": "a@acme.test",
    "emails": [{"value": "a@acme.test", "primary": True}],
    "name": {"givenName": "A"},
}
GROUP = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "id": "g1", "displayName": "G"}

huge = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.just(10**400),
    st.just(-(2**63)),
    st.just(2**64),
)
scalars = st.one_of(st.none(), st.booleans(), huge, st.text(max_size=40))
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3)
    ),
    max_leaves=12,
)


def deep(depth: int) -> Any:
    value: Any = "x"
    for n in range(depth):
        value = [value] if n % 2 else {"value": value}
    return value


paths = st.one_of(
    st.none(),
    st.text(max_size=40),
    st.sampled_from(
        [
            "emails",
            'emails[type eq "work"].value',
            "members",
            'members[value eq "x"]',
            "name.givenName",
            f"{ENTERPRISE}:manager",
            "active",
            "displayName",
            'emails[value co "%"]',
            "password",
            "meta.version",
            "id",
            "schemas",
            "groups",
            "userName",
            "urn:x:y:z",
            "emails[",
            "]",
            '"',
            "x.y.z.w",
        ]
    ),
)
operations = st.fixed_dictionaries(
    {
        "op": st.one_of(
            st.sampled_from(["add", "remove", "replace", "Add", "REPLACE"]),
            st.text(max_size=8),
            st.integers(),
        )
    },
    optional={"path": paths, "value": st.one_of(values, st.integers(1, 60).map(deep))},
)
operation_lists = st.one_of(
    st.lists(operations, max_size=5), st.lists(values, max_size=3)
)  # not even objects


@settings(max_examples=400, deadline=None)
@given(ops=operation_lists)
def test_only_refusals_escape_patch(ops: list[Any]) -> None:
    for patch, resource in ((patch_user, USER), (patch_group, GROUP)):
        original = copy.deepcopy(resource)
        try:
            patch(resource, ops)
        except Refusal as refused:
            assert 400 <= refused.status < 500 and refused.detail
        assert resource == original


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(operations, min_size=1, max_size=4), kind=st.sampled_from(["Users", "Groups"]))
def test_patch_over_http_never_fails_and_refusals_change_nothing(
    api: Any, engine: Engine, tenant: TenantHandle, ops: list[dict[str, Any]], kind: str
) -> None:
    base, headers = tenant.scim_base, tenant.scim_headers
    body = user_body("fuzz@acme.test") if kind == "Users" else group_body("Fuzz")
    found = api.get(
        f"{base}/{kind}",
        headers=headers,
        params={
            "filter": 'userName eq "fuzz@acme.test"' if kind == "Users" else 'displayName eq "Fuzz"'
        },
    )
    existing = found.json()["Resources"]
    resource_id = (
        existing[0]["id"]
        if existing
        else api.post(f"{base}/{kind}", json=body, headers=headers).json()["id"]
    )
    before = row_counts(engine)
    # Python's encoder writes NaN/Infinity as the bare words (httpx's `json=` refuses
    # them): an IdP's sloppy encoder can send them, and the server must refuse, not fail.
    sent = json.dumps(
        {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops}
    )
    response = api.patch(f"{base}/{kind}/{resource_id}", headers=headers, content=sent)
    assert response.status_code < 500, response.text
    assert_no_leak(response.text, sent=sent)
    if response.status_code >= 400:
        assert row_counts(engine) == before
    else:
        assert api.get(f"{base}/{kind}/{resource_id}", headers=headers).status_code == 200
