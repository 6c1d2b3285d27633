"""Entra ID, default mode and aadOptscim062020 mode, replayed through HTTP and the worker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from events.ingest.dialects.entra import unwrap_single_value
from events.scim.patch.schema import GROUP_SCHEMA, USER_SCHEMA
from tests.integration.events.ingest.dialects.replay import fixtures, replay_fixture
from tests.support.workspace import make_tenant


@pytest.mark.parametrize("path", fixtures("entra"), ids=lambda p: p.stem)
def test_entra_sequence_reaches_the_expected_workspace(
    api: Any, engine: Engine, path: Path
) -> None:
    replay_fixture(api, engine, path)


def test_entra_reads_active_on_every_user_even_one_created_without_it(
    api: Any, engine: Engine
) -> None:
    tenant = make_tenant(engine, idp="entra")
    body = {"userName": "ada@acme.test", "emails": [{"value": "ada@acme.test", "primary": True}]}
    created = api.post(f"{tenant.scim_base}/Users", json=body, headers=tenant.scim_headers)
    assert created.status_code == 201
    listed = api.get(
        f'{tenant.scim_base}/Users?filter=userName eq "ada@acme.test"', headers=tenant.scim_headers
    ).json()
    assert listed["Resources"][0]["active"] is True
    only = api.get(
        f"{tenant.scim_base}/Users/{created.json()['id']}?attributes=userName",
        headers=tenant.scim_headers,
    ).json()
    assert "active" not in only  # attribute selection still applies


@pytest.mark.parametrize(
    ("schema", "path", "value", "expected"),
    [
        (USER_SCHEMA, "nickName", [{"value": "Babs"}], "Babs"),
        (USER_SCHEMA, "active", [{"value": "False"}], "False"),
        (USER_SCHEMA, 'emails[type eq "work"].value', [{"value": "a@b.test"}], "a@b.test"),
        (
            USER_SCHEMA,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
            [{"value": "u1"}],
            {"value": "u1"},
        ),
        (GROUP_SCHEMA, "displayName", [{"value": "Sales"}], "Sales"),
    ],
)
def test_entra_one_item_lists_for_single_values_are_unwrapped(
    schema: Any, path: str, value: Any, expected: Any
) -> None:
    assert unwrap_single_value(schema, path, value) == expected


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("emails", [{"value": "a@b.test"}]),  # multi-valued: a list is the right shape
        ("members", [{"value": "u1"}]),
        ("nickName", [{"value": "a"}, {"value": "b"}]),  # two values for one: not ours to pick
        ("nickName", [{"value": "a", "display": "b"}]),
        ("noSuchAttribute", [{"value": "a"}]),  # left for the PATCH engine to refuse
    ],
)
def test_entra_leaves_lists_that_are_not_one_wrapped_value(path: str, value: Any) -> None:
    schema = GROUP_SCHEMA if path == "members" else USER_SCHEMA
    assert unwrap_single_value(schema, path, value) == value
