"""Discovery (RFC 7644 §4): the documents parse back with scim2-models, unchanged, and
describe what the service really does."""

from __future__ import annotations

from typing import Any

import pytest
from scim2_models import (
    Context,
    ListResponse,
    Resource,
    ResourceType,
    Returned,
    Schema,
    ScimProvider,
    ServiceProviderConfig,
)

from tests.support.workspace import TenantHandle, group_body, make_tenant, user_body
from worker.settings import get_settings

RESPONSE = Context.RESOURCE_QUERY_RESPONSE
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


@pytest.fixture
def tenant(engine: Any, service_env: Any) -> TenantHandle:
    return make_tenant(engine)


def get(api: Any, tenant: TenantHandle, path: str) -> dict[str, Any]:
    response = api.get(f"{tenant.scim_base}/{path}", headers=tenant.scim_headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/scim+json")
    body: dict[str, Any] = response.json()
    return body


def round_trip(model: type[Resource[Any]], body: dict[str, Any]) -> Any:
    """The body read by scim2-models, which writes it back unchanged."""
    parsed = model.model_validate(body, scim_ctx=RESPONSE)
    assert parsed.model_dump(scim_ctx=RESPONSE) == body
    return parsed


def listed(api: Any, tenant: TenantHandle, path: str, model: type[Resource[Any]]) -> list[Any]:
    body = get(api, tenant, path)
    page = ListResponse[model].model_validate(body, scim_ctx=Context.SEARCH_RESPONSE)  # type: ignore[valid-type]
    assert page.total_results == page.items_per_page == len(body["Resources"]) > 0
    items = [round_trip(model, item) for item in body["Resources"]]
    for item, raw in zip(items, body["Resources"], strict=True):
        assert item.meta.location.endswith(f"{tenant.scim_base}/{path}/{item.id}")
        assert get(api, tenant, f"{path}/{item.id}") == raw
    return items


def test_service_provider_config_round_trips_with_the_enforced_limits(
    api: Any, tenant: TenantHandle
) -> None:
    settings = get_settings()
    config = round_trip(ServiceProviderConfig, get(api, tenant, "ServiceProviderConfig"))
    assert config.patch.supported and config.sort.supported and config.etag.supported
    assert not config.change_password.supported
    assert config.bulk.max_operations == settings.max_bulk_operations
    assert config.bulk.max_payload_size == settings.max_body_bytes
    assert config.filter.max_results == settings.max_results
    assert config.pagination.index and not config.pagination.cursor
    assert config.pagination.default_page_size == settings.default_page_size
    assert config.pagination.max_page_size == settings.max_results
    assert [s.type for s in config.authentication_schemes] == ["oauthbearertoken"]
    assert config.meta.location.endswith(f"{tenant.scim_base}/ServiceProviderConfig")


def test_resource_types_round_trip(api: Any, tenant: TenantHandle) -> None:
    types = {t.id: t for t in listed(api, tenant, "ResourceTypes", ResourceType)}
    assert set(types) == {"User", "Group"}
    assert (types["User"].endpoint, types["User"].schema_) == ("/Users", USER)
    assert [(e.schema_, e.required) for e in types["User"].schema_extensions] == [
        (ENTERPRISE, False)
    ]
    assert (types["Group"].endpoint, types["Group"].schema_) == ("/Groups", GROUP)


def test_schemas_round_trip_and_describe_the_resources(api: Any, tenant: TenantHandle) -> None:
    schemas = listed(api, tenant, "Schemas", Schema)
    assert [s.id for s in schemas] == [USER, ENTERPRISE, GROUP]
    types = listed(api, tenant, "ResourceTypes", ResourceType)
    # What a client does with them (scim2-client, scim2-tester): build its models, then
    # read what the service answers with those models.
    provider = ScimProvider.from_discovery(schemas, types)
    user_model = provider.model_for_endpoint("/Users")  # User with its extension
    group_model = provider.model_for_endpoint("/Groups")
    assert user_model is not None and group_model is not None
    body = user_body("disc@acme.test", **{ENTERPRISE: {"manager": {"value": "m-1"}}})
    body["schemas"] = [USER, ENTERPRISE]
    created = api.post(f"{tenant.scim_base}/Users", json=body, headers=tenant.scim_headers)
    assert created.status_code == 201, created.text
    user_model.model_validate(created.json(), scim_ctx=RESPONSE)
    group = api.post(
        f"{tenant.scim_base}/Groups",
        json=group_body("Discovered", [created.json()["id"]]),
        headers=tenant.scim_headers,
    )
    assert group.status_code == 201, group.text
    group_model.model_validate(group.json(), scim_ctx=RESPONSE)


def _attribute(schema: dict[str, Any], *names: str) -> dict[str, Any]:
    attributes = schema["attributes"]
    for name in names:
        found = next(a for a in attributes if a["name"] == name)
        attributes = found.get("subAttributes", [])
    return found


def test_schemas_say_what_the_service_enforces(api: Any, tenant: TenantHandle) -> None:
    user = get(api, tenant, f"Schemas/{USER}")
    enterprise = get(api, tenant, f"Schemas/{ENTERPRISE}")
    group = get(api, tenant, f"Schemas/{GROUP}")
    headers = tenant.scim_headers

    # A user's groups are never rendered on the user.
    assert _attribute(user, "groups")["returned"] == Returned.never.value
    member = api.post(f"{tenant.scim_base}/Users", json=user_body("m@acme.test"), headers=headers)
    team = api.post(
        f"{tenant.scim_base}/Groups",
        json=group_body("Team", [member.json()["id"]]),
        headers=headers,
    )
    assert team.status_code == 201
    fetched = api.get(f"{tenant.scim_base}/Users/{member.json()['id']}", headers=headers).json()
    assert "groups" not in fetched

    # The manager's $ref is not required: the service derives it from the id.
    assert _attribute(enterprise, "manager", "value")["required"] is True
    assert _attribute(enterprise, "manager", "$ref")["required"] is False
    body = user_body("report@acme.test", **{ENTERPRISE: {"manager": {"value": "m-1"}}})
    body["schemas"] = [USER, ENTERPRISE]
    assert api.post(f"{tenant.scim_base}/Users", json=body, headers=headers).status_code == 201

    # A member is its value, which is required; a display name is neither kept nor shown.
    assert _attribute(group, "members", "value")["required"] is True
    assert {a["name"] for a in _attribute(group, "members")["subAttributes"]} == {
        "value",
        "$ref",
        "type",
    }
    nameless = {**group_body("No value"), "members": [{"display": "someone"}]}
    refused = api.post(f"{tenant.scim_base}/Groups", json=nameless, headers=headers)
    assert refused.status_code == 400 and refused.json()["scimType"] == "invalidValue"
    shown = api.get(f"{tenant.scim_base}/Groups/{team.json()['id']}", headers=headers).json()
    assert all("display" not in m for m in shown["members"])

    # emails is optional, and a user without one is accepted, as the description says.
    assert _attribute(user, "emails")["required"] is False
    assert "accepted and kept" in _attribute(user, "emails")["description"]
    no_email = {"schemas": [USER], "userName": "kiosk-1"}
    assert api.post(f"{tenant.scim_base}/Users", json=no_email, headers=headers).status_code == 201

    # userName and a group's displayName are unique, and a second one is 409 uniqueness.
    assert _attribute(user, "userName")["uniqueness"] == "server"
    assert _attribute(user, "userName")["required"] is True
    assert _attribute(group, "displayName")["uniqueness"] == "server"
    again = api.post(f"{tenant.scim_base}/Groups", json=group_body("Team"), headers=headers)
    assert again.status_code == 409 and again.json()["scimType"] == "uniqueness"


def test_unknown_discovery_items_are_404(api: Any, tenant: TenantHandle) -> None:
    for path in ("ResourceTypes/Widget", "Schemas/urn:nothing"):
        response = api.get(f"{tenant.scim_base}/{path}", headers=tenant.scim_headers)
        assert response.status_code == 404 and response.json()["status"] == "404"
