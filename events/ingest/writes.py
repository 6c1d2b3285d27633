"""Each SCIM write as the mirror change plus its change event, in the caller's transaction.

These are the steps under the one write path (events/ingest/service.py), which
chooses the step through the tenant's dialect, audits and publishes after commit.
Nothing here commits or publishes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection

from events.scim.patch import document as patching
from events.scim.resources import ParsedUser, etag, parse_group, parse_user
from reconciler.errors import InvalidSyntax, NotFound, PreconditionFailed
from reconciler.model import IdpKind, TenantPolicy
from reconciler.rules import check_groups_supported
from storage import mirror, mirror_members, outbox
from storage.mirror import MirrorResource
from storage.tenants import Tenant

PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


class Kind(StrEnum):
    USER = "User"
    GROUP = "Group"


class Op(StrEnum):
    CREATE = "create"
    REPLACE = "replace"
    PATCH = "patch"
    DELETE = "delete"


@dataclass
class WriteResult:
    record: MirrorResource | None
    event_ids: list[int] = field(default_factory=list)
    # A group write: member id -> "joined" | "left", for the provisioning trace.
    touched: dict[str, str] = field(default_factory=dict)


JOINED, LEFT = "joined", "left"


def _moves(before: set[str], after: set[str]) -> dict[str, str]:
    return {**dict.fromkeys(before - after, LEFT), **dict.fromkeys(after - before, JOINED)}


WriteAction = Callable[..., WriteResult]
"""`(conn, tenant, [resource id,] [body,] now, **options) -> WriteResult`, as below."""


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


def check_groups(tenant: Tenant) -> None:
    """Rule 10: some IdPs (Google Workspace) provision users only."""
    check_groups_supported(TenantPolicy(tenant_id=tenant.id, idp=IdpKind(tenant.idp)))


# --- the shape every write shares ----------------------------------------------


def _existing_for_write(
    conn: Connection, tenant: Tenant, kind: str, resource_id: str, if_match: str | None
) -> MirrorResource:
    """The resource a write is about to change, locked, once If-Match allows the write.

    The lock lasts until commit, so concurrent writes to one resource take turns and
    each builds on the version the one before it made.
    """
    load = mirror.get_user if kind == "User" else mirror.get_group
    current = load(conn, tenant.id, resource_id, lock=True)
    if current is None:
        raise NotFound(f"{kind} {resource_id} not found")
    _check_precondition(current, if_match)
    return current


def _recorded(
    conn: Connection,
    tenant: Tenant,
    kind: str,
    operation: str,
    record: MirrorResource,
    payload: dict[str, Any],
    now: datetime,
    source: str,
) -> WriteResult:
    """The answer to a write that stored `record`, with the change event telling the workers."""
    event = _event(conn, tenant, kind, record.id, record.version, operation, payload, now, source)
    return WriteResult(record, [event])


def _deleted(
    conn: Connection, tenant: Tenant, kind: str, last: MirrorResource, now: datetime, source: str
) -> WriteResult:
    # The deletion takes the next version, so that no earlier change is applied after it.
    event = _event(conn, tenant, kind, last.id, last.version + 1, "delete", {}, now, source)
    return WriteResult(None, [event])


# --- users -------------------------------------------------------------------


def create_user(
    conn: Connection, tenant: Tenant, body: dict[str, Any], now: datetime, *, source: str = "scim"
) -> WriteResult:
    parsed = parse_user(body)
    record = mirror.insert_user(
        conn, tenant.id, parsed.resource, has_password=parsed.password_set, now=now
    )
    return _recorded(conn, tenant, "User", "create", record, parsed.resource, now, source)


def _store_user(
    conn: Connection, tenant: Tenant, current: MirrorResource, parsed: ParsedUser, now: datetime
) -> MirrorResource:
    # Passwords are never stored, so a body without one must not forget that one was set.
    has_password = current.has_password or parsed.password_set
    return mirror.replace_user(
        conn, tenant.id, current, parsed.resource, has_password=has_password, now=now
    )


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
    current = _existing_for_write(conn, tenant, "User", user_id, if_match)
    parsed = parse_user(body)
    record = _store_user(conn, tenant, current, parsed, now)
    return _recorded(conn, tenant, "User", "replace", record, parsed.resource, now, source)


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
    current = _existing_for_write(conn, tenant, "User", user_id, if_match)
    operations = _operations(body, max_operations)
    patched = patching.patch_user(
        {**current.resource, "id": current.id}, operations, max_operations=max_operations
    )
    parsed = parse_user(patched)
    if parsed.resource == current.resource and not parsed.password_set:
        return WriteResult(current)  # nothing changed: no new version, no event
    record = _store_user(conn, tenant, current, parsed, now)
    return _recorded(conn, tenant, "User", "patch", record, parsed.resource, now, source)


def delete_user(
    conn: Connection,
    tenant: Tenant,
    user_id: str,
    now: datetime,
    *,
    if_match: str | None = None,
    source: str = "scim",
) -> WriteResult:
    current = _existing_for_write(conn, tenant, "User", user_id, if_match)
    mirror.delete_user(conn, tenant.id, user_id)
    return _deleted(conn, tenant, "User", current, now, source)


# --- groups ------------------------------------------------------------------


def create_group(
    conn: Connection, tenant: Tenant, body: dict[str, Any], now: datetime, *, source: str = "scim"
) -> WriteResult:
    check_groups(tenant)
    parsed = parse_group(body)
    record = mirror.insert_group(conn, tenant.id, parsed.resource, now=now)
    added = mirror_members.add_members(conn, tenant.id, record.id, parsed.member_ids or [])
    payload = {**parsed.resource, "members_added": added}
    result = _recorded(conn, tenant, "Group", "create", record, payload, now, source)
    result.touched = dict.fromkeys(parsed.member_ids or [], JOINED)
    return result


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
    check_groups(tenant)
    current = _existing_for_write(conn, tenant, "Group", group_id, if_match)
    parsed = parse_group(body)
    record = mirror.update_group(conn, tenant.id, current, parsed.resource, now=now)
    before = set(mirror_members.member_ids(conn, tenant.id, group_id))
    mirror_members.replace_members(conn, tenant.id, group_id, parsed.member_ids or [])
    result = _recorded(conn, tenant, "Group", "replace", record, parsed.resource, now, source)
    result.touched = _moves(before, set(parsed.member_ids or []))
    return result


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
    check_groups(tenant)
    current = _existing_for_write(conn, tenant, "Group", group_id, if_match)
    operations = _operations(body, max_operations)
    result = patching.patch_group(
        {**current.resource, "id": current.id}, operations, max_operations=max_operations
    )
    resource = parse_group({k: v for k, v in result.resource.items() if k != "id"}).resource
    changed = resource != current.resource
    before: set[str] | None = None
    if result.remove_all_members or result.replace_members is not None:
        before = set(mirror_members.member_ids(conn, tenant.id, group_id))
    if result.remove_all_members:
        changed |= mirror_members.clear_members(conn, tenant.id, group_id) > 0
    if result.replace_members is not None:
        mirror_members.replace_members(conn, tenant.id, group_id, result.replace_members)
        changed = True
    removed = mirror_members.remove_members(conn, tenant.id, group_id, result.remove_members)
    added = mirror_members.add_members(conn, tenant.id, group_id, result.add_members)
    if not (changed or removed or added):
        return WriteResult(current)
    record = mirror.update_group(conn, tenant.id, current, resource, now=now)
    payload = {
        "displayName": resource.get("displayName"),
        "members_added": added,
        "members_removed": removed,
    }
    recorded = _recorded(conn, tenant, "Group", "patch", record, payload, now, source)
    if before is not None:
        recorded.touched = _moves(before, set(mirror_members.member_ids(conn, tenant.id, group_id)))
    else:
        recorded.touched = {
            **dict.fromkeys(result.remove_members, LEFT),
            **dict.fromkeys(result.add_members, JOINED),
        }
    return recorded


def delete_group(
    conn: Connection,
    tenant: Tenant,
    group_id: str,
    now: datetime,
    *,
    if_match: str | None = None,
    source: str = "scim",
) -> WriteResult:
    current = _existing_for_write(conn, tenant, "Group", group_id, if_match)
    touched = dict.fromkeys(mirror_members.member_ids(conn, tenant.id, group_id), LEFT)
    mirror.delete_group(conn, tenant.id, group_id)
    result = _deleted(conn, tenant, "Group", current, now, source)
    result.touched = touched
    return result


# Which step makes each write: the table the dialects start from (events/ingest/dialects/base.py).
WRITES: dict[tuple[Kind, Op], WriteAction] = {
    (Kind.USER, Op.CREATE): create_user,
    (Kind.USER, Op.REPLACE): replace_user,
    (Kind.USER, Op.PATCH): patch_user,
    (Kind.USER, Op.DELETE): delete_user,
    (Kind.GROUP, Op.CREATE): create_group,
    (Kind.GROUP, Op.REPLACE): replace_group,
    (Kind.GROUP, Op.PATCH): patch_group,
    (Kind.GROUP, Op.DELETE): delete_group,
}
