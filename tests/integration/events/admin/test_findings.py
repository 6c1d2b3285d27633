"""The admin-side audit's findings over HTTP: what an admin sees through the Members API.

Each test failed before its fix: a native group could be named "X (SCIM)"; users sent
with only given and family names (Google's shape) showed no name.
"""

from __future__ import annotations

import pytest

from tests.integration.events.admin.support import AdminApi, IdpClient


@pytest.mark.parametrize("name", ["Eng (SCIM)", "Eng (scim)", "Eng (SCIM 2)"])
def test_finding_4_a_native_group_cannot_take_the_scim_suffix(admin: AdminApi, name: str) -> None:
    refused = admin.post("/groups", json={"name": name})
    assert refused.status_code == 409
    assert refused.json()["error"] == "reserved_name"
    assert "reserved for groups your identity provider manages" in refused.json()["detail"]
    design = admin.native_group("Design")
    renamed = admin.patch(f"/groups/{design['id']}", json={"name": name})
    assert renamed.status_code == 409 and renamed.json()["error"] == "reserved_name"


def test_finding_4_an_idp_group_never_becomes_scim_2(admin: AdminApi, idp: IdpClient) -> None:
    idp.create_group("Eng", [])
    idp.apply()
    assert [g["name"] for g in admin.ok("GET", "/groups")["groups"]] == ["Eng (SCIM)"]


@pytest.mark.parametrize(
    ("extra", "shown"),
    [
        ({"name": {"givenName": "Ann", "familyName": "Berg"}}, "Ann Berg"),  # Google
        ({"name": {"formatted": "Dr Ann Berg", "givenName": "Ann"}}, "Dr Ann Berg"),
        ({"displayName": "Annie", "name": {"givenName": "Ann"}}, "Annie"),
        ({"name": {}}, "ann@acme.test"),
    ],
)
def test_finding_5_display_names_fall_back_like_the_idps_send_them(
    admin: AdminApi, idp: IdpClient, extra: dict[str, object], shown: str
) -> None:
    idp.create_user("ann@acme.test", **extra)
    idp.apply()
    assert admin.member("ann@acme.test")["display_name"] == shown
