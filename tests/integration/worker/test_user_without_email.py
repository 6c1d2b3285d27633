"""A user without any email address (no emails, a userName that is not an address) is
accepted, as /Schemas says (`emails` is optional): it is stored in the mirror, found by
the IdP's lookups and kept in its groups, and becomes a workspace member only once it has
an address. Until then its apply is held with the reason `no_email`, shown in words."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, select

from storage.schema import dead_letters, members
from tests.support.workspace import TenantHandle, group_body, make_tenant, patch_body
from worker.pipeline import drain

USER = "urn:ietf:params:scim:schemas:core:2.0:User"


@pytest.fixture
def tenant(engine: Engine, service_env: Any) -> TenantHandle:
    return make_tenant(engine)


def _member_emails(engine: Engine, tenant_id: str) -> set[str]:
    with engine.connect() as conn:
        rows = conn.execute(select(members.c.email_ci).where(members.c.tenant_id == tenant_id))
        return {r.email_ci for r in rows}


def test_user_without_email_is_kept_then_joins_once_it_has_one(
    api: Any, tenant: TenantHandle, engine: Engine
) -> None:
    base, headers = tenant.scim_base, tenant.scim_headers
    created = api.post(
        f"{base}/Users", json={"schemas": [USER], "userName": "kiosk-07"}, headers=headers
    )
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]
    found = api.get(f"{base}/Users", params={"filter": 'userName eq "kiosk-07"'}, headers=headers)
    assert [u["id"] for u in found.json()["Resources"]] == [user_id]
    group = api.post(f"{base}/Groups", json=group_body("Kiosks", [user_id]), headers=headers)
    assert group.status_code == 201, group.text

    drain(engine, tenant.id, batch_size=500, time_budget=30)
    assert _member_emails(engine, tenant.id) == {"owner@acme.test"}  # no member without email
    with engine.connect() as conn:
        held = conn.execute(
            select(dead_letters.c.error_code).where(dead_letters.c.tenant_id == tenant.id)
        ).scalars()
        assert list(held) == ["no_email"]

    patched = api.patch(
        f"{base}/Users/{user_id}",
        json=patch_body(
            {
                "op": "add",
                "path": "emails",
                "value": [{"value": "kiosk-07@acme.test", "primary": True}],
            }
        ),
        headers=headers,
    )
    assert patched.status_code == 200, patched.text
    drain(engine, tenant.id, batch_size=500, time_budget=30)
    assert "kiosk-07@acme.test" in _member_emails(engine, tenant.id)
