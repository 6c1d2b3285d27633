"""SQL injection attempts through every query input of the SCIM API, end to end over
HTTP: each is a plain value or a clear 400, the data stays intact, and LIKE wildcards
in `co`/`sw`/`ew` values match literally. (The compiler-level cases are in
tests/integration/events/scim/test_filter_sql.py and tests/fuzz/test_filter_fuzz.py.)"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine

from tests.security.conftest import assert_no_leak, assert_scim_error, row_counts
from tests.support.workspace import TenantHandle, user_body

ATTACKS = [
    "' OR 1=1 --",
    "x'; DELETE FROM mirror_users; --",
    'x"; DROP TABLE tenants; --',
    "a' /* comment */ OR '1'='1",
    "*/ OR 1=1 /*",
    "; SELECT * FROM api_tokens",
    "x' UNION SELECT token_hash FROM api_tokens --",
    "%' OR '%'='",
    "\\' OR 1=1 #",
]


@pytest.fixture
def people(api: Any, tenant: TenantHandle) -> dict[str, str]:
    ids = {}
    for name in ("a_b@acme.test", "a%b@acme.test", "axb@acme.test", "100%@acme.test"):
        created = api.post(
            f"{tenant.scim_base}/Users", json=user_body(name), headers=tenant.scim_headers
        )
        assert created.status_code == 201, created.text
        ids[name] = created.json()["id"]
    return ids


def listed(api: Any, tenant: TenantHandle, **params: str) -> Any:
    return api.get(f"{tenant.scim_base}/Users", params=params, headers=tenant.scim_headers)


def names(response: Any) -> set[str]:
    assert response.status_code == 200, response.text
    return {r["userName"] for r in response.json()["Resources"]}


@pytest.mark.parametrize("attack", ATTACKS)
def test_filter_values_are_plain_values(
    api: Any, engine: Engine, tenant: TenantHandle, people: dict[str, str], attack: str
) -> None:
    before = row_counts(engine)
    quoted = attack.replace("\\", "\\\\").replace('"', '\\"')
    for text in (
        f'userName eq "{quoted}"',
        f'title co "{quoted}"',
        f'emails[value sw "{quoted}"]',
        f'displayName ew "{quoted}" or userName pr',
    ):
        response = listed(api, tenant, filter=text)
        expected = set(people) if text.endswith("userName pr") else set()
        assert names(response) == expected, text
        searched = api.post(
            f"{tenant.scim_base}/Users/.search", headers=tenant.scim_headers, json={"filter": text}
        )
        assert searched.status_code == 200 and searched.json()["totalResults"] == len(expected)
    assert row_counts(engine) == before


@pytest.mark.parametrize("attack", ATTACKS)
def test_attacks_outside_quotes_are_invalid_filters(
    api: Any, tenant: TenantHandle, people: dict[str, str], attack: str
) -> None:
    for text in (f"userName eq {attack}", f'userName eq "a" {attack}', attack):
        assert_scim_error(listed(api, tenant, filter=text), 400, "invalidFilter", echoed=text)


@pytest.mark.parametrize("attack", ATTACKS)
def test_sort_attributes_and_ids_are_not_sql(
    api: Any, engine: Engine, tenant: TenantHandle, people: dict[str, str], attack: str
) -> None:
    before = row_counts(engine)
    assert_scim_error(
        listed(api, tenant, sortBy=f"userName{attack}"), 400, echoed=f"userName{attack}"
    )
    chosen = listed(api, tenant, attributes=f"userName,{attack}")
    assert chosen.status_code in (200, 400)
    assert_no_leak(chosen.text.replace(attack, ""))
    some_id = attack.replace("/", "").replace("#", "")
    assert_scim_error(
        api.get(f"{tenant.scim_base}/Users/{some_id}", headers=tenant.scim_headers),
        404,
        echoed=some_id,
    )
    assert row_counts(engine) == before


def test_like_wildcards_match_literally(
    api: Any, tenant: TenantHandle, people: dict[str, str]
) -> None:
    assert names(listed(api, tenant, filter='userName co "_"')) == {"a_b@acme.test"}
    assert names(listed(api, tenant, filter='userName co "a_b"')) == {"a_b@acme.test"}
    assert names(listed(api, tenant, filter='userName sw "a%"')) == {"a%b@acme.test"}
    assert names(listed(api, tenant, filter='userName co "%"')) == {
        "a%b@acme.test",
        "100%@acme.test",
    }
    assert names(listed(api, tenant, filter='userName ew "0%@acme.test"')) == {"100%@acme.test"}
    assert names(listed(api, tenant, filter='emails.value co "%b"')) == {"a%b@acme.test"}
    assert names(listed(api, tenant, filter='userName sw "%"')) == set()
    assert names(listed(api, tenant, filter='userName co "a%b" and userName co "_"')) == set()
