"""Discovery endpoints (RFC 7644 §4): read-only, writes answer 405."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from scim2_models import Context, EnterpriseUser, Group, User

from events.runtime import ApiSettings
from events.scim.context import ScimContext, scim_context
from events.scim.query import LIST_SCHEMA
from events.scim.resources import ENTERPRISE_SCHEMA, GROUP_SCHEMA, USER_SCHEMA
from events.scim.routes import scim_json
from reconciler.errors import MethodNotAllowed, NotFound

router = APIRouter(prefix="/scim/v2/{tenant_id}")
DISCOVERY = ("ServiceProviderConfig", "ResourceTypes", "Schemas")


def service_provider_config(base_url: str, s: ApiSettings) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "https://github.com/scim-sync/scim-sync#readme",
        "patch": {"supported": True},
        "bulk": {
            "supported": True,
            "maxOperations": s.max_bulk_operations,
            "maxPayloadSize": s.max_body_bytes,
        },
        "filter": {"supported": True, "maxResults": s.max_results},
        "changePassword": {"supported": False},
        "sort": {"supported": True},
        "etag": {"supported": True},
        "authenticationSchemes": [
            {
                "type": "oauthbearertoken",
                "name": "Bearer token",
                "description": "A per-tenant token from `scimsync scim enable`",
                "primary": True,
            }
        ],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": f"{base_url}/ServiceProviderConfig",
        },
    }


def resource_types(base_url: str) -> list[dict[str, Any]]:
    def one(
        name: str, endpoint: str, schema: str, extensions: list[dict[str, Any]]
    ) -> dict[str, Any]:
        return {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": name,
            "name": name,
            "endpoint": endpoint,
            "schema": schema,
            "schemaExtensions": extensions,
            "meta": {
                "resourceType": "ResourceType",
                "location": f"{base_url}/ResourceTypes/{name}",
            },
        }

    return [
        one("User", "/Users", USER_SCHEMA, [{"schema": ENTERPRISE_SCHEMA, "required": False}]),
        one("Group", "/Groups", GROUP_SCHEMA, []),
    ]


@lru_cache(maxsize=1)
def _schema_bodies() -> tuple[dict[str, Any], ...]:
    return tuple(
        model.to_schema().model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
        for model in (User, EnterpriseUser, Group)
    )


def schemas(base_url: str) -> list[dict[str, Any]]:
    return [
        {**body, "meta": {"resourceType": "Schema", "location": f"{base_url}/Schemas/{body['id']}"}}
        for body in _schema_bodies()
    ]


def _listing(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "schemas": [LIST_SCHEMA],
        "totalResults": len(items),
        "startIndex": 1,
        "itemsPerPage": len(items),
        "Resources": items,
    }


@router.get("/ServiceProviderConfig")
def get_service_provider_config(ctx: ScimContext = Depends(scim_context)) -> JSONResponse:
    return scim_json(service_provider_config(ctx.base_url, ctx.runtime.settings))


@router.get("/ResourceTypes")
def list_resource_types(ctx: ScimContext = Depends(scim_context)) -> JSONResponse:
    return scim_json(_listing(resource_types(ctx.base_url)))


@router.get("/ResourceTypes/{name}")
def get_resource_type(name: str, ctx: ScimContext = Depends(scim_context)) -> JSONResponse:
    for item in resource_types(ctx.base_url):
        if item["id"].lower() == name.lower():
            return scim_json(item)
    raise NotFound(f"no resource type {name}")


@router.get("/Schemas")
def list_schemas(ctx: ScimContext = Depends(scim_context)) -> JSONResponse:
    return scim_json(_listing(schemas(ctx.base_url)))


@router.get("/Schemas/{schema_id}")
def get_schema(schema_id: str, ctx: ScimContext = Depends(scim_context)) -> JSONResponse:
    for item in schemas(ctx.base_url):
        if item["id"].lower() == schema_id.lower():
            return scim_json(item)
    raise NotFound(f"no schema {schema_id}")


def _refuse_writes(path: str) -> None:
    @router.api_route(path, methods=["POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    def refuse(ctx: ScimContext = Depends(scim_context)) -> JSONResponse:
        raise MethodNotAllowed(f"{path.strip('/').split('/')[0]} is read-only")


for _name in DISCOVERY:
    _refuse_writes(f"/{_name}")
    if _name != "ServiceProviderConfig":
        _refuse_writes(f"/{_name}/{{item_id}}")
