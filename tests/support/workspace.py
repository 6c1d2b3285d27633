"""Test helpers to set up tenants and talk SCIM, as an IdP would."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, select, text

from storage import tenants
from storage.db import unit_of_work
from storage.schema import group_permissions, members, workspace_groups

# SCIMSYNC_SECRET_KEY of every test process (service_env, the e2e stacks), so a signing
# key sealed by the test opens in the service it starts. A Fernet key: 32 bytes, base64.
TEST_SECRET_KEY = "c2NpbXN5bmMtdGVzdHMtc2VjcmV0LWtleS0zMmJ5dGU="


def issue_webhook_secret(conn: Connection, tenant_id: str) -> str:
    """A signing key for canonical pushes, sealed with the process's secret key."""
    from worker.connections import get_sealer

    return tenants.issue_token(conn, tenant_id, "webhook", sealer=get_sealer()).token


def issue_okta_secret(conn: Connection, tenant_id: str) -> str:
    """An Okta Event Hook secret (a bearer token, stored as a hash)."""
    return tenants.issue_token(conn, tenant_id, "okta_hook").token


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


def linked_member_row(
    tenant_id: str, member_id: str, scim_user_id: str, email: str, now: datetime
) -> dict[str, Any]:
    """An active member linked to a SCIM user, as a `members` row (for bulk-seeded tests)."""
    return {
        "tenant_id": tenant_id,
        "id": member_id,
        "email": email,
        "email_ci": email.lower(),
        "status": "active",
        "scim_user_id": scim_user_id,
        "created_at": now,
        "updated_at": now,
    }


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


def workspace_state(engine: Engine, tenant_id: str) -> dict[str, Any]:
    """The tenant's workspace as a user would compare it: members, groups (and whether SCIM
    manages them), memberships by name and email, folder permissions."""
    with engine.connect() as conn:
        return {
            "members": sorted(
                (r.email_ci, r.status, r.display_name, r.scim_user_id is not None)
                for r in conn.execute(select(members).where(members.c.tenant_id == tenant_id))
            ),
            "groups": sorted(
                (r.name, r.scim_group_id is not None)
                for r in conn.execute(
                    select(workspace_groups).where(workspace_groups.c.tenant_id == tenant_id)
                )
            ),
            "memberships": sorted(
                tuple(r)
                for r in conn.execute(
                    text(
                        "SELECT g.name, m.email_ci, gm.source FROM group_memberships gm "
                        "JOIN workspace_groups g ON g.id = gm.group_id JOIN members m ON m.id = "
                        "gm.member_id WHERE gm.tenant_id = :t"
                    ),
                    {"t": tenant_id},
                )
            ),
            "permissions": sorted(
                tuple(r)
                for r in conn.execute(
                    select(
                        group_permissions.c.group_id,
                        group_permissions.c.path,
                        group_permissions.c.access,
                    ).where(group_permissions.c.tenant_id == tenant_id)
                )
            ),
        }
