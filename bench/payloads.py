"""The SCIM bodies both sides receive: deterministic, so the same index is the same user.

Users look like an Okta push (work email, name, externalId) and live in the
bench tenant's SSO domain, so scim-sync makes them active members.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

DOMAIN = "example.com"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SCIM_JSON = "application/scim+json"


def user_name(index: int) -> str:
    return f"user{index:07d}@{DOMAIN}"


def user_body(index: int) -> dict[str, Any]:
    name = user_name(index)
    return {
        "schemas": [USER_SCHEMA],
        "userName": name,
        "externalId": f"00u{index:07d}",
        "name": {"givenName": f"Given{index}", "familyName": f"Family{index % 997}"},
        "displayName": f"Given{index} Family{index % 997}",
        "emails": [{"value": name, "type": "work", "primary": True}],
        "active": True,
    }


def group_name(index: int) -> str:
    return f"Team {index:05d}"


def group_body(index: int, member_ids: Sequence[str] = ()) -> dict[str, Any]:
    return {
        "schemas": [GROUP_SCHEMA],
        "displayName": group_name(index),
        "members": [{"value": member_id} for member_id in member_ids],
    }


def add_members_patch(member_ids: Sequence[str]) -> dict[str, Any]:
    return {
        "schemas": [PATCH_SCHEMA],
        "Operations": [
            {"op": "add", "path": "members", "value": [{"value": m} for m in member_ids]}
        ],
    }


def user_filter(index: int) -> str:
    return f'userName eq "{user_name(index)}"'


def group_filter(index: int) -> str:
    return f'displayName eq "{group_name(index)}"'
