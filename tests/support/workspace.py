"""Test helpers to set up tenants and talk SCIM, as an IdP would."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from storage import tenants
from storage.db import unit_of_work


@dataclass
class TenantHandle:
    id: str
    scim_token: str
    admin_token: str

    @property
    def scim_headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.scim_token}",
            "Content-Type": "application/scim+json",
        }

    @property
    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}

    @property
    def scim_base(self) -> str:
        return f"/scim/v2/{self.id}"


def make_tenant(
    engine: Engine,
    *,
    name: str = "Acme",
    domains: tuple[str, ...] = ("acme.test",),
    idp: str = "generic",
    owner_email: str | None = "owner@acme.test",
) -> TenantHandle:
    with unit_of_work(engine) as conn:
        created = tenants.create_workspace(
            conn, name=name, sso_domains=list(domains), idp=idp, owner_email=owner_email
        )
        token = tenants.enable_scim(conn, created["id"])
    return TenantHandle(created["id"], token.token, created["admin_token"])


def user_body(user_name: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "name": {"givenName": user_name.split("@")[0], "familyName": "Test"},
        "emails": [{"value": user_name, "type": "work", "primary": True}],
        "active": True,
    }
    body.update(extra)
    return body


def group_body(name: str, members: list[str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": name,
    }
    if members is not None:
        body["members"] = [{"value": m} for m in members]
    return body


def patch_body(*operations: dict[str, Any]) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": list(operations),
    }
