"""Helpers for the admin API tests: the admin's client and the IdP's, over HTTP."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from tests.support.workspace import TenantHandle, group_body, patch_body, user_body
from worker.pipeline import drain


@dataclass
class AdminApi:
    """The workspace admin, calling /api/v1/workspaces/{tenant_id} with the admin token."""

    client: Any
    tenant: TenantHandle

    def url(self, path: str) -> str:
        return f"/api/v1/workspaces/{self.tenant.id}{path}"

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {**self.tenant.admin_headers, **kwargs.pop("headers", {})}
        return self.client.request(method, self.url(path), headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.call("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Any:
        return self.call("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Any:
        return self.call("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.call("DELETE", path, **kwargs)

    def ok(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        """Calls and asserts the status; returns the JSON body (None for 204)."""
        response = self.call(method, path, **kwargs)
        assert response.status_code == status, response.text
        return response.json() if response.content else None

    def member(self, email: str) -> dict[str, Any]:
        found = [m for m in self.ok("GET", "/members")["members"] if m["email"].lower() == email]
        assert len(found) == 1, f"{email}: {found}"
        return self.ok("GET", f"/members/{found[0]['id']}")

    def group(self, name: str) -> dict[str, Any]:
        found = [g for g in self.ok("GET", "/groups")["groups"] if g["name"] == name]
        assert len(found) == 1, f"{name}: {found}"
        return found[0]

    def invite(self, email: str) -> dict[str, Any]:
        return self.ok("POST", "/members", 201, json={"email": email})

    def native_group(self, name: str) -> dict[str, Any]:
        return self.ok("POST", "/groups", 201, json={"name": name})

    def billed(self) -> int:
        return int(self.ok("GET", "/billing")["billed_members"])

    def access(self, email: str) -> dict[str, Any]:
        return self.ok("GET", "/access", params={"email": email})


@dataclass
class IdpClient:
    """The identity provider pushing SCIM; `apply()` runs the worker's drain in-process."""

    client: Any
    tenant: TenantHandle
    engine: Engine

    def _ok(self, method: str, path: str, body: dict[str, Any] | None, status: int) -> Any:
        response = self.client.request(
            method, f"{self.tenant.scim_base}{path}", json=body, headers=self.tenant.scim_headers
        )
        assert response.status_code == status, response.text
        return response.json() if response.content else None

    def create_user(self, email: str, **extra: Any) -> str:
        return str(self._ok("POST", "/Users", user_body(email, **extra), 201)["id"])

    def create_group(self, name: str, member_ids: list[str]) -> str:
        return str(self._ok("POST", "/Groups", group_body(name, member_ids), 201)["id"])

    def set_active(self, user_id: str, active: bool) -> None:
        body = patch_body({"op": "replace", "value": {"active": active}})
        self._ok("PATCH", f"/Users/{user_id}", body, 200)

    def rename_group(self, group_id: str, name: str) -> None:
        body = patch_body({"op": "replace", "value": {"displayName": name}})
        self._ok("PATCH", f"/Groups/{group_id}", body, 200)

    def delete_user(self, user_id: str) -> None:
        self._ok("DELETE", f"/Users/{user_id}", None, 204)

    def apply(self) -> None:
        result = drain(self.engine, self.tenant.id, batch_size=500, time_budget=30)
        assert not result.dead and not result.failed and not result.more, result
