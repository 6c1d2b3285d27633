"""Discovery endpoints (RFC 7644 §4): read-only, writes answer 405.

Every document is a scim2-models object: `ServiceProviderConfig` with the limits this
process enforces, `ResourceType`s derived from the models we validate with, and the
`Schema`s scim2-models generates for them, corrected where this service does otherwise
(`_as_served`), so that a client reading /Schemas learns what the service really does.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any, TypeVar

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from scim2_models import (
    Attribute,
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    Context,
    EnterpriseUser,
    ETag,
    External,
    Filter,
    Group,
    ListResponse,
    Meta,
    Pagination,
    Patch,
    Reference,
    Required,
    ResourceType,
    Returned,
    Schema,
    ServiceProviderConfig,
    Sort,
    Uniqueness,
    User,
)

from events.runtime import ApiSettings
from events.scim_api.context import ScimContext, scim_context
from events.scim_api.routes import scim_json
from reconciler.errors import MethodNotAllowed, NotFound

router = APIRouter(prefix="/scim/v2/{tenant_id}")
DISCOVERY = ("ServiceProviderConfig", "ResourceTypes", "Schemas")
RESPONSE = Context.RESOURCE_QUERY_RESPONSE
DOCUMENTATION = "https://github.com/scim-sync/scim-sync#readme"
EMAIL_RULE = (
    " A user's workspace email is its primary email, else the first one, else a userName"
    " that is an email address. A user with none is accepted and kept, and joins the"
    " workspace once it has one."
)


def service_provider_config(base_url: str, s: ApiSettings) -> dict[str, Any]:
    config = ServiceProviderConfig(
        documentation_uri=Reference[External](DOCUMENTATION),
        patch=Patch(supported=True),
        bulk=Bulk(
            supported=True,
            max_operations=s.max_bulk_operations,
            max_payload_size=s.max_body_bytes,
        ),
        filter=Filter(supported=True, max_results=s.max_results),
        change_password=ChangePassword(supported=False),
        sort=Sort(supported=True),
        etag=ETag(supported=True),
        authentication_schemes=[
            AuthenticationScheme(
                type=AuthenticationScheme.Type.oauthbearertoken,
                name="Bearer token",
                description="A per-tenant token from `scimsync scim enable`",
                primary=True,
            )
        ],
        pagination=Pagination(
            cursor=False,
            index=True,
            default_page_size=s.default_page_size,
            max_page_size=s.max_results,
        ),
        meta=Meta(
            resource_type="ServiceProviderConfig", location=f"{base_url}/ServiceProviderConfig"
        ),
    )
    return config.model_dump(scim_ctx=RESPONSE)


def _find(attributes: list[Attribute] | None, name: str) -> Attribute:
    found = next((a for a in attributes or [] if a.name == name), None)
    if found is None:
        raise LookupError(f"scim2-models no longer generates the attribute {name}")
    return found


def _as_served(user: Schema, enterprise: Schema, group: Schema) -> tuple[Schema, ...]:
    """The generated schemas, where this service differs from scim2-models' defaults."""
    emails = _find(user.attributes, "emails")
    emails.description = (emails.description or "") + EMAIL_RULE
    # Memberships are written through /Groups and never rendered on a user; a filter may
    # still name them, which is what "never" allows (RFC 7643 §7).
    _find(user.attributes, "groups").returned = Returned.never
    # An IdP may send the manager's id alone: its $ref is derived (events/scim/resources.py).
    manager = _find(enterprise.attributes, "manager")
    _find(manager.sub_attributes, "$ref").required = Required.false
    # A member is its id (refused without one); type and $ref are rendered from what it
    # is, and a display name is neither stored nor returned.
    # One group per name in a tenant, as enforced (a retried create answers 409).
    _find(group.attributes, "displayName").uniqueness = Uniqueness.server
    members = _find(group.attributes, "members")
    _find(members.sub_attributes, "value").required = Required.true
    members.sub_attributes = [a for a in members.sub_attributes or [] if a.name != "display"]
    return user, enterprise, group


@lru_cache(maxsize=1)
def _schemas() -> tuple[Schema, ...]:
    # Deep copies: the corrections must not reach anything scim2-models keeps.
    user, enterprise, group = (
        model.to_schema().model_copy(deep=True) for model in (User, EnterpriseUser, Group)
    )
    return _as_served(user, enterprise, group)


@lru_cache(maxsize=1)
def _resource_types() -> tuple[ResourceType, ...]:
    return (ResourceType.from_resource(User[EnterpriseUser]), ResourceType.from_resource(Group))


Described = TypeVar("Described", Schema, ResourceType)


def _located(item: Described, kind: str, base_url: str) -> Described:
    meta = Meta(resource_type=kind, location=f"{base_url}/{kind}s/{item.id}")
    return item.model_copy(update={"meta": meta})


def schemas(base_url: str) -> list[Schema]:
    return [_located(s, "Schema", base_url) for s in _schemas()]


def resource_types(base_url: str) -> list[ResourceType]:
    return [_located(r, "ResourceType", base_url) for r in _resource_types()]


def _listing(items: Sequence[Schema | ResourceType]) -> dict[str, Any]:
    listing = ListResponse[Schema | ResourceType](
        total_results=len(items), start_index=1, items_per_page=len(items), resources=[*items]
    )
    return listing.model_dump(scim_ctx=RESPONSE)


def _one(items: Sequence[Schema | ResourceType], item_id: str, kind: str) -> dict[str, Any]:
    for item in items:
        if (item.id or "").lower() == item_id.lower():
            return item.model_dump(scim_ctx=RESPONSE)
    raise NotFound(f"no {kind} {item_id}")


@router.get("/ServiceProviderConfig")
def get_service_provider_config(ctx: ScimContext = Depends(scim_context)) -> JSONResponse:
    return scim_json(service_provider_config(ctx.base_url, ctx.runtime.settings))


@router.get("/ResourceTypes")
def list_resource_types(ctx: ScimContext = Depends(scim_context)) -> JSONResponse:
    return scim_json(_listing(resource_types(ctx.base_url)))


@router.get("/ResourceTypes/{name}")
def get_resource_type(name: str, ctx: ScimContext = Depends(scim_context)) -> JSONResponse:
    return scim_json(_one(resource_types(ctx.base_url), name, "resource type"))


@router.get("/Schemas")
def list_schemas(ctx: ScimContext = Depends(scim_context)) -> JSONResponse:
    return scim_json(_listing(schemas(ctx.base_url)))


@router.get("/Schemas/{schema_id}")
def get_schema(schema_id: str, ctx: ScimContext = Depends(scim_context)) -> JSONResponse:
    return scim_json(_one(schemas(ctx.base_url), schema_id, "schema"))


def _refuse_writes(path: str) -> None:
    @router.api_route(path, methods=["POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    def refuse(ctx: ScimContext = Depends(scim_context)) -> JSONResponse:
        raise MethodNotAllowed(f"{path.strip('/').split('/')[0]} is read-only")


for _name in DISCOVERY:
    _refuse_writes(f"/{_name}")
    if _name != "ServiceProviderConfig":
        _refuse_writes(f"/{_name}/{{item_id}}")
