"""The ingest service: one SCIM write = one transaction holding the mirror change
and its change event. The caller commits, then publishes the returned event ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from events import patch as patching
from events.errors import InvalidSyntax, NotFound, PreconditionFailed
from events.resources import etag, parse_group, parse_user
from reconciler.model import IdpKind, TenantPolicy
from reconciler.rules import check_groups_supported
from storage import mirror, outbox
from storage.mirror import MirrorResource
from storage.tenants import Tenant

PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@dataclass
class WriteResult:
    record: MirrorResource | None
    event_ids: list[int] = field(default_factory=list)


def _check_precondition(record: MirrorResource, if_match: str | None) -> None:
    if if_match is None or if_match.strip() == "*":
        return
    accepted = {tag.strip() for tag in if_match.split(",")}
    current = etag(record.version)
    if current not in accepted and current.removeprefix("W/") not in accepted:
        raise PreconditionFailed(f"resource version is {current}, not {if_match}")


def _event(
    conn: Connection,
    tenant: Tenant,
    kind: str,
    record_id: str,
    version: int,
    op: str,
    payload: dict[str, Any],
    now: datetime,
    source: str,
) -> int:
    return outbox.append(
        conn,
        tenant_id=tenant.id,
        resource_type=kind,
        resource_id=record_id,
        version=version,
        operation=op,
        payload=payload,
        now=now,
        source=source,
    )


def _operations(body: dict[str, Any], max_operations: int) -> list[dict[str, Any]]:
    schemas = body.get("schemas")
    if isinstance(schemas, list) and schemas and PATCH_SCHEMA not in schemas:
        raise InvalidSyntax(f"a PATCH body must have schemas [{PATCH_SCHEMA}]")
    operations = body.get("Operations", body.get("operations"))
    if not isinstance(operations, list) or not all(isinstance(o, dict) for o in operations):
        raise InvalidSyntax("a PATCH body needs an 'Operations' list of objects")
    return operations


def _check_groups(tenant: Tenant) -> None:
    """Rule 10: some IdPs (Google Workspace) provision users only."""
    check_groups_supported(TenantPolicy(tenant_id=tenant.id, idp=IdpKind(tenant.idp)))


# --- users -------------------------------------------------------------------


def create_user(
    conn: Connection, tenant: Tenant, body: dict[str, Any], now: datetime, *, source: str = "scim"
) -> WriteResult:
    parsed = parse_user(body)
    record = mirror.insert_user(
        conn, tenant.id, parsed.resource, has_password=parsed.password_set, now=now
    )
    event = _event(conn, tenant, "User", record.id, 1, "create", parsed.resource, now, source)
    return WriteResult(record, [event])


def _existing_user(conn: Connection, tenant: Tenant, user_id: str) -> tuple[MirrorResource, bool]:
    current = mirror.get_user(conn, tenant.id, user_id, lock=True)
    if current is None:
        raise NotFound(f"User {user_id} not found")
    return current, current.has_password


def replace_user(
    conn: Connection,
    tenant: Tenant,
    user_id: str,
    body: dict[str, Any],
    now: datetime,
    *,
    if_match: str | None = None,
    source: str = "scim",
) -> WriteResult:
    current, had_password = _existing_user(conn, tenant, user_id)
    _check_precondition(current, if_match)
    parsed = parse_user(body)
    record = mirror.replace_user(
        conn,
        tenant.id,
        current,
        parsed.resource,
        has_password=had_password or parsed.password_set,
        now=now,
    )
    event = _event(
        conn, tenant, "User", user_id, record.version, "replace", parsed.resource, now, source
    )
    return WriteResult(record, [event])


def patch_user(
    conn: Connection,
    tenant: Tenant,
    user_id: str,
    body: dict[str, Any],
    now: datetime,
    *,
    if_match: str | None = None,
    max_operations: int = 1000,
    source: str = "scim",
) -> WriteResult:
    current, had_password = _existing_user(conn, tenant, user_id)
    _check_precondition(current, if_match)
    operations = _operations(body, max_operations)
    patched = patching.patch_user(
        {**current.resource, "id": current.id}, operations, max_operations=max_operations
    )
    parsed = parse_user(patched)
    if parsed.resource == current.resource and not parsed.password_set:
        return WriteResult(current)  # nothing changed: no new version, no event
    record = mirror.replace_user(
        conn,
        tenant.id,
        current,
        parsed.resource,
        has_password=had_password or parsed.password_set,
        now=now,
    )
    event = _event(
        conn, tenant, "User", user_id, record.version, "patch", parsed.resource, now, source
    )
    return WriteResult(record, [event])


def delete_user(
    conn: Connection,
    tenant: Tenant,
    user_id: str,
    now: datetime,
    *,
    if_match: str | None = None,
    source: str = "scim",
) -> WriteResult:
    current, _ = _existing_user(conn, tenant, user_id)
    _check_precondition(current, if_match)
    mirror.delete_user(conn, tenant.id, user_id)
    event = _event(conn, tenant, "User", user_id, current.version + 1, "delete", {}, now, source)
    return WriteResult(None, [event])


# --- groups ------------------------------------------------------------------


def create_group(
    conn: Connection, tenant: Tenant, body: dict[str, Any], now: datetime, *, source: str = "scim"
) -> WriteResult:
    _check_groups(tenant)
    parsed = parse_group(body)
    record = mirror.insert_group(conn, tenant.id, parsed.resource, now=now)
    added = mirror.add_members(conn, tenant.id, record.id, parsed.member_ids or [])
    payload = {**parsed.resource, "members_added": added}
    event = _event(conn, tenant, "Group", record.id, 1, "create", payload, now, source)
    return WriteResult(record, [event])


def _existing_group(conn: Connection, tenant: Tenant, group_id: str) -> MirrorResource:
    current = mirror.get_group(conn, tenant.id, group_id, lock=True)
    if current is None:
        raise NotFound(f"Group {group_id} not found")
    return current


def replace_group(
    conn: Connection,
    tenant: Tenant,
    group_id: str,
    body: dict[str, Any],
    now: datetime,
    *,
    if_match: str | None = None,
    source: str = "scim",
) -> WriteResult:
    _check_groups(tenant)
    current = _existing_group(conn, tenant, group_id)
    _check_precondition(current, if_match)
    parsed = parse_group(body)
    record = mirror.update_group(conn, tenant.id, current, parsed.resource, now=now)
    mirror.replace_members(conn, tenant.id, group_id, parsed.member_ids or [])
    event = _event(
        conn, tenant, "Group", group_id, record.version, "replace", parsed.resource, now, source
    )
    return WriteResult(record, [event])


def patch_group(
    conn: Connection,
    tenant: Tenant,
    group_id: str,
    body: dict[str, Any],
    now: datetime,
    *,
    if_match: str | None = None,
    max_operations: int = 1000,
    source: str = "scim",
) -> WriteResult:
    _check_groups(tenant)
    current = _existing_group(conn, tenant, group_id)
    _check_precondition(current, if_match)
    operations = _operations(body, max_operations)
    result = patching.patch_group(
        {**current.resource, "id": current.id}, operations, max_operations=max_operations
    )
    resource = parse_group({k: v for k, v in result.resource.items() if k != "id"}).resource
    changed = resource != current.resource
    if result.remove_all_members:
        changed |= mirror.clear_members(conn, tenant.id, group_id) > 0
    if result.replace_members is not None:
        mirror.replace_members(conn, tenant.id, group_id, result.replace_members)
        changed = True
    removed = mirror.remove_members(conn, tenant.id, group_id, result.remove_members)
    added = mirror.add_members(conn, tenant.id, group_id, result.add_members)
    if not (changed or removed or added):
        return WriteResult(current)
    record = mirror.update_group(conn, tenant.id, current, resource, now=now)
    payload = {
        "displayName": resource.get("displayName"),
        "members_added": added,
        "members_removed": removed,
    }
    event = _event(conn, tenant, "Group", group_id, record.version, "patch", payload, now, source)
    return WriteResult(record, [event])


def delete_group(
    conn: Connection,
    tenant: Tenant,
    group_id: str,
    now: datetime,
    *,
    if_match: str | None = None,
    source: str = "scim",
) -> WriteResult:
    current = _existing_group(conn, tenant, group_id)
    _check_precondition(current, if_match)
    mirror.delete_group(conn, tenant.id, group_id)
    event = _event(conn, tenant, "Group", group_id, current.version + 1, "delete", {}, now, source)
    return WriteResult(None, [event])
