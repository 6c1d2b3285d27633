"""Every ingest limit: advertised where SCIM has a field, refused with a clear SCIM error
over it, and a refused request changes nothing (row counts of every table)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.security.conftest import assert_scim_error, row_counts
from tests.support.workspace import TenantHandle, patch_body, user_body
from worker.settings import get_settings

BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
SMALL = {
    "SCIMSYNC_MAX_RESULTS": "5",
    "SCIMSYNC_MAX_BULK_OPERATIONS": "3",
    "SCIMSYNC_MAX_FILTER_LENGTH": "100",
    "SCIMSYNC_MAX_JSON_DEPTH": "8",
    "SCIMSYNC_MAX_BODY_BYTES": "20000",
}


@pytest.fixture
def small(
    service_env: Any, engine: Engine, redis_client: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    """The app with small limits, so that going over them is cheap."""
    from fastapi.testclient import TestClient

    from events.app import create_app

    for key, value in SMALL.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        yield client
    get_settings.cache_clear()


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 2):
        value = {"x": value}
    return value  # `depth` levels counting the leaf value


def test_limits_are_advertised_in_service_provider_config(small: Any, tenant: TenantHandle) -> None:
    spc = small.get(f"{tenant.scim_base}/ServiceProviderConfig", headers=tenant.scim_headers).json()
    assert spc["bulk"] == {"supported": True, "maxOperations": 3, "maxPayloadSize": 20000}
    assert spc["filter"] == {"supported": True, "maxResults": 5}


def test_a_body_over_the_limit_is_413_even_without_content_length(
    small: Any, engine: Engine, tenant: TenantHandle
) -> None:
    before = row_counts(engine)
    big = json.dumps(user_body("big@acme.test", displayName="x" * 30000)).encode()
    declared = small.post(f"{tenant.scim_base}/Users", content=big, headers=tenant.scim_headers)
    assert_scim_error(declared, 413)
    streamed = small.post(
        f"{tenant.scim_base}/Users",
        content=iter([big[:100], big[100:]]),
        headers=tenant.scim_headers,
    )  # chunked: no Content-Length
    assert "content-length" not in {k.lower() for k in streamed.request.headers}
    assert_scim_error(streamed, 413)
    assert row_counts(engine) == before


def test_json_nested_too_deep_is_invalid_syntax(
    small: Any, engine: Engine, tenant: TenantHandle
) -> None:
    before = row_counts(engine)
    assert (
        small.post(
            f"{tenant.scim_base}/Users/.search", json=nested(8), headers=tenant.scim_headers
        ).status_code
        == 200
    )  # at the limit
    for body in (json.dumps(nested(9)).encode(), b"[" * 15000, b'{"a":' * 4000):
        response = small.post(
            f"{tenant.scim_base}/Users", content=body, headers=tenant.scim_headers
        )
        assert "nested deeper than 8" in assert_scim_error(response, 400, "invalidSyntax")["detail"]
    assert row_counts(engine) == before


def test_a_filter_too_long_or_too_complex_is_invalid_filter(
    small: Any, tenant: TenantHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    long_filter = 'userName eq "' + "a" * 100 + '"'
    complex_filter = " or ".join(f'userName eq "u{i}"' for i in range(60))
    for text in (long_filter, complex_filter):
        listed = small.get(
            f"{tenant.scim_base}/Users", params={"filter": text}, headers=tenant.scim_headers
        )
        assert_scim_error(listed, 400, "invalidFilter")
    # The complex one under a roomier length limit still trips the complexity limit.
    # The app reads its settings once, when it is built (events/app.py).
    monkeypatch.setattr(small.app.state.runtime.settings, "max_filter_length", 4096)
    searched = small.post(
        f"{tenant.scim_base}/.search",
        headers=tenant.scim_headers,
        json={"schemas": [SEARCH], "filter": complex_filter},
    )
    assert "more than" in assert_scim_error(searched, 400, "invalidFilter")["detail"]


def test_too_many_patch_operations_is_too_many(
    api: Any, engine: Engine, tenant: TenantHandle
) -> None:
    user = api.post(
        f"{tenant.scim_base}/Users", json=user_body("p@acme.test"), headers=tenant.scim_headers
    ).json()
    before = row_counts(engine)
    limit = get_settings().max_patch_operations
    operations = [{"op": "replace", "path": "title", "value": f"t{i}"} for i in range(limit + 1)]
    response = api.patch(
        f"{tenant.scim_base}/Users/{user['id']}",
        json=patch_body(*operations),
        headers=tenant.scim_headers,
    )
    assert_scim_error(response, 400, "tooMany")
    assert row_counts(engine) == before
    after = api.get(f"{tenant.scim_base}/Users/{user['id']}", headers=tenant.scim_headers)
    assert after.json()["meta"]["version"] == user["meta"]["version"]


def test_too_many_bulk_operations_or_too_big_a_payload_is_refused_whole(
    small: Any, engine: Engine, tenant: TenantHandle
) -> None:
    before = row_counts(engine)
    ops = [
        {
            "method": "POST",
            "path": "/Users",
            "bulkId": f"b{i}",
            "data": user_body(f"b{i}@acme.test"),
        }
        for i in range(4)
    ]
    too_many = small.post(
        f"{tenant.scim_base}/Bulk",
        headers=tenant.scim_headers,
        json={"schemas": [BULK], "Operations": ops},
    )
    assert "at most 3" in assert_scim_error(too_many, 413, "tooMany")["detail"]
    heavy = [
        {
            "method": "POST",
            "path": "/Users",
            "bulkId": f"h{i}",
            "data": user_body(f"h{i}@acme.test", title="é" * 3000),
        }
        for i in range(3)
    ]
    too_big = small.post(
        f"{tenant.scim_base}/Bulk",
        headers=tenant.scim_headers,
        json={"schemas": [BULK], "Operations": heavy},
    )
    assert_scim_error(too_big, 413)
    assert row_counts(engine) == before


def test_count_is_capped_at_max_results(small: Any, tenant: TenantHandle) -> None:
    for n in range(7):
        assert (
            small.post(
                f"{tenant.scim_base}/Users",
                json=user_body(f"c{n}@acme.test"),
                headers=tenant.scim_headers,
            ).status_code
            == 201
        )
    for params in ({"count": "1000000"}, {}, {"count": "99999999999999999999999999"}):
        page = small.get(
            f"{tenant.scim_base}/Users", params=params, headers=tenant.scim_headers
        ).json()
        assert page["totalResults"] == 7 and page["itemsPerPage"] == 5, params
    searched = small.post(
        f"{tenant.scim_base}/Users/.search",
        headers=tenant.scim_headers,
        json={"schemas": [SEARCH], "count": 10**30, "startIndex": 10**30},
    )
    assert searched.status_code == 200 and searched.json()["itemsPerPage"] == 0
    negative = small.get(
        f"{tenant.scim_base}/Users", params={"count": "-5"}, headers=tenant.scim_headers
    ).json()
    assert negative["itemsPerPage"] == 0 and negative["totalResults"] == 7


@pytest.mark.parametrize(
    "raw",
    [
        b'{"userName": "nul\\u0000@acme.test"}',
        b'{"userName": "x@acme.test", "displayName": "\\ud800"}',
        b'{"userName": "x@acme.test", "title": NaN}',
        b'{"userName": "x@acme.test", "title": 1' + b"0" * 5000 + b"}",
        b'\xff\xfe{"userName": "x@acme.test"}',
    ],
)
def test_unstorable_text_and_non_json_numbers_are_refused(
    small: Any, engine: Engine, tenant: TenantHandle, raw: bytes
) -> None:
    before = row_counts(engine)
    response = small.post(f"{tenant.scim_base}/Users", content=raw, headers=tenant.scim_headers)
    assert_scim_error(response, 400)
    assert "sys." not in response.text  # no hint about our runtime
    assert row_counts(engine) == before


@pytest.mark.parametrize(
    "url",
    [
        "/Users/%00",
        "/Users?filter=userName%20eq%20%22a%00%22",
        "/Groups/a%00b",
    ],
)
def test_nul_in_the_url_is_refused(small: Any, tenant: TenantHandle, url: str) -> None:
    assert_scim_error(small.get(tenant.scim_base + url, headers=tenant.scim_headers), 400)


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        ("Users", {**user_body("e@acme.test"), "userName": ""}),
        ("Groups", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": ""}),
    ],
)
def test_empty_required_names_are_refused(
    small: Any, engine: Engine, tenant: TenantHandle, kind: str, body: dict[str, Any]
) -> None:
    """Found by schemathesis: scim2-models accepts "" for a required name, and storing it
    failed with a 500."""
    before = row_counts(engine)
    response = small.post(f"{tenant.scim_base}/{kind}", json=body, headers=tenant.scim_headers)
    assert "may not be empty" in assert_scim_error(response, 400, "invalidValue")["detail"]
    assert row_counts(engine) == before


@pytest.mark.parametrize(
    "body",
    [
        {"schemas": True, "Operations": []},
        {"schemas": "urn:ietf:params:scim:api:messages:2.0:BulkRequest", "Operations": []},
        {"schemas": [BULK], "Operations": [], "failOnErrors": "x"},
        {"schemas": [BULK], "Operations": [], "failOnErrors": -1},
        {"schemas": [BULK], "Operations": [], "failOnErrors": {"n": 1}},
    ],
)
def test_malformed_bulk_envelopes_are_refused(
    small: Any, engine: Engine, tenant: TenantHandle, body: dict[str, Any]
) -> None:
    """Found by schemathesis: a non-list `schemas` or a non-integer `failOnErrors` was a 500."""
    before = row_counts(engine)
    response = small.post(f"{tenant.scim_base}/Bulk", json=body, headers=tenant.scim_headers)
    assert_scim_error(response, 400)
    assert row_counts(engine) == before


def test_malformed_bulk_operations_fail_one_by_one(
    small: Any, engine: Engine, tenant: TenantHandle
) -> None:
    """Found by probing Bulk: a non-object `data` or a non-string `version` was a 500."""
    user = small.post(
        f"{tenant.scim_base}/Users", json=user_body("v@acme.test"), headers=tenant.scim_headers
    ).json()
    before = row_counts(engine)
    path = f"/Users/{user['id']}"
    operations = [
        {"method": "POST", "path": "/Users", "data": [1]},
        {"method": "PUT", "path": path, "data": "x"},
        {"method": "DELETE", "path": path, "version": 5},
    ]
    response = small.post(
        f"{tenant.scim_base}/Bulk",
        headers=tenant.scim_headers,
        json={"schemas": [BULK], "Operations": operations},
    )
    assert response.status_code == 200, response.text
    assert [op["status"] for op in response.json()["Operations"]] == ["400", "400", "400"]
    assert row_counts(engine) == before
