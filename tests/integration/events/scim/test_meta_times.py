"""`meta.created` and `meta.lastModified` carry their UTC offset on every backend and every
read (issue 20, item 5): on SQLite a GET or PATCH once lost the `+00:00` a POST had."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tests.support.workspace import TenantHandle, group_body, make_tenant, patch_body, user_body


def _utc(stamp: str) -> datetime:
    parsed = datetime.fromisoformat(stamp)
    assert parsed.utcoffset() == timedelta(0), stamp  # an offset, and it is UTC
    return parsed


def test_post_get_patch_and_list_show_the_same_utc_meta(
    api: Any, engine: Any, service_env: Any
) -> None:
    tenant: TenantHandle = make_tenant(engine)
    headers = tenant.scim_headers
    for kind, body in (("Users", user_body("ann@acme.test")), ("Groups", group_body("Eng"))):
        created = api.post(f"{tenant.scim_base}/{kind}", json=body, headers=headers).json()
        url = f"{tenant.scim_base}/{kind}/{created['id']}"
        got = api.get(url, headers=headers).json()
        assert got["meta"] == created["meta"]
        listed = api.get(f"{tenant.scim_base}/{kind}", headers=headers).json()["Resources"]
        assert [r["meta"] for r in listed] == [created["meta"]]
        change = {"displayName": "Ann A"} if kind == "Users" else {"displayName": "Eng 2"}
        patched = api.patch(
            url, json=patch_body({"op": "replace", "value": change}), headers=headers
        ).json()
        assert patched["meta"]["created"] == created["meta"]["created"]
        assert api.get(url, headers=headers).json()["meta"] == patched["meta"]
        for meta in (created["meta"], patched["meta"]):
            assert _utc(meta["created"]) <= _utc(meta["lastModified"])
