"""Repair the mirror from an outside source of IdP state (pushes that never arrived).

Planned first, applied after: every difference becomes a write through the one
ingest write path (events/ingest/service.py: a change event, an audit row, published
after commit), and the
destructive ones (deletions, deactivations) are counted before anything is
written, so the safety valve can stop a broken snapshot from wiping the
workspace. Users are matched by userName, groups by displayName; the source's
ids are translated to ours. The bodies are a SCIM server's own reads, not an IdP's
pushes, so no dialect applies: they are written as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select

from events.ingest.service import IngestSession, Publisher, ingest_session
from events.ingest.writes import WRITES, Kind, Op, WriteResult
from events.scim.resources import parse_group, parse_user
from reconciler.drift import DriftItem, ItemKind, ResourceType
from reconciler.errors import Refusal
from storage import mirror, tenants
from storage.db import unit_of_work
from storage.schema import mirror_groups, mirror_users
from storage.sql import chunked

BATCH = 200


def _changed(
    before: dict[str, Any], after: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    keys = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}


def _item(
    resource_type: ResourceType,
    scim_id: str,
    name: str,
    consequence: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    *,
    destructive: bool = False,
) -> DriftItem:
    return DriftItem(
        ItemKind.MIRROR_REPAIRED,
        resource_type,
        scim_id,
        name,
        consequence,
        before or {},
        after or {},
        destructive,
    )


@dataclass
class MirrorPlan:
    operations: list[tuple[str, Any]] = field(default_factory=list)
    items: list[DriftItem] = field(default_factory=list)  # one per operation, in order
    destructive: int = 0
    invalid: int = 0
    source_ids: dict[str, str] = field(default_factory=dict)  # source id -> our id

    def counts(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for name, _ in self.operations:
            totals[f"mirror_{name}"] = totals.get(f"mirror_{name}", 0) + 1
        return totals


def _index(
    engine: Engine, tenant_id: str
) -> tuple[dict[str, tuple[str, dict[str, Any]]], dict[str, tuple[str, dict[str, Any]]]]:
    """userName / displayName (lower-cased) -> (our id, stored resource), read once."""
    with unit_of_work(engine, write=False) as conn:
        users = {
            r.user_name_ci: (r.id, r.resource)
            for r in conn.execute(
                select(
                    mirror_users.c.id, mirror_users.c.user_name_ci, mirror_users.c.resource
                ).where(mirror_users.c.tenant_id == tenant_id)
            )
        }
        groups = {
            r.display_name_ci: (r.id, r.resource)
            for r in conn.execute(
                select(
                    mirror_groups.c.id, mirror_groups.c.display_name_ci, mirror_groups.c.resource
                ).where(mirror_groups.c.tenant_id == tenant_id)
            )
        }
    return users, groups


def plan_repair(
    engine: Engine, tenant_id: str, source: Iterable[tuple[str, dict[str, Any]]]
) -> MirrorPlan:
    plan = MirrorPlan()
    users, groups = _index(engine, tenant_id)
    seen_users: set[str] = set()
    seen_groups: set[str] = set()
    for kind, raw in source:
        body = {k: v for k, v in raw.items() if k not in ("id", "meta")}
        try:
            parsed: Any = parse_user(body) if kind == "User" else parse_group(body)
        except Refusal:
            plan.invalid += 1
            continue
        if kind == "User":
            key = str(parsed.resource["userName"]).lower()
            seen_users.add(key)
            current = users.get(key)
            name = str(parsed.resource["userName"])
            if current is None:
                plan.operations.append(("create_user", (raw.get("id"), body)))
                plan.items.append(
                    _item(
                        "User",
                        str(raw.get("id") or name),
                        name,
                        "the mirror gains this IdP user; the workspace follows (rules 2, 3)",
                        after={"userName": name, "active": parsed.resource.get("active", True)},
                    )
                )
            else:
                plan.source_ids[str(raw.get("id"))] = current[0]
                if parsed.resource != current[1]:
                    plan.operations.append(("update_user", (current[0], body)))
                    was_active = current[1].get("active", True)
                    off = bool(was_active and not parsed.resource.get("active", True))
                    plan.destructive += off
                    before, after = _changed(current[1], parsed.resource)
                    consequence = (
                        "the IdP deactivated this user: its member becomes Deactivated"
                        if off
                        else "the mirror takes the IdP's values; the member follows"
                    )
                    plan.items.append(
                        _item("User", current[0], name, consequence, before, after, destructive=off)
                    )
        else:
            key = str(parsed.resource["displayName"]).lower()
            seen_groups.add(key)
            current = groups.get(key)
            members = [str(m) for m in parsed.member_ids or []]
            name = str(parsed.resource["displayName"])
            if current is None:
                plan.operations.append(("create_group", (body, members)))
                consequence = f"the mirror gains this IdP group ({len(members)} members)"
                after = {"displayName": name, "members": len(members)}
                plan.items.append(
                    _item("Group", str(raw.get("id") or name), name, consequence, after=after)
                )
            elif _group_differs(engine, tenant_id, current, parsed.resource, members, plan):
                plan.operations.append(("sync_group", (current[0], body, members)))
                consequence = "the mirror takes the IdP's group and members; the workspace follows"
                plan.items.append(_item("Group", current[0], name, consequence))
    for key, (user_id, resource) in users.items():
        if key not in seen_users:
            plan.operations.append(("delete_user", user_id))
            plan.destructive += 1
            name = str(resource.get("userName", key))
            consequence = "the IdP no longer has this user: its member leaves the workspace"
            before = {"userName": name}
            plan.items.append(_item("User", user_id, name, consequence, before, destructive=True))
    for key, (group_id, resource) in groups.items():
        if key not in seen_groups:
            plan.operations.append(("delete_group", group_id))
            name = str(resource.get("displayName", key))
            consequence = "the IdP no longer has this group: its workspace group is deleted"
            plan.items.append(_item("Group", group_id, name, consequence, {"displayName": name}))
    return plan


def _group_differs(
    engine: Engine,
    tenant_id: str,
    current: tuple[str, dict[str, Any]],
    resource: dict[str, Any],
    source_members: list[str],
    plan: MirrorPlan,
) -> bool:
    if resource != current[1]:
        return True
    translated = {plan.source_ids.get(m) for m in source_members}
    if None in translated:
        return True  # a member the mirror does not have yet
    with unit_of_work(engine, write=False) as conn:
        return set(mirror.member_ids(conn, tenant_id, current[0])) != translated


def _apply_one(
    session: IngestSession, name: str, args: Any, plan: MirrorPlan
) -> WriteResult | None:
    if name == "create_user":
        source_id, body = args
        result = session.write(Kind.USER, Op.CREATE, body)
        if source_id and result.record:
            plan.source_ids[str(source_id)] = result.record.id
        return result
    if name == "update_user":
        return session.write(Kind.USER, Op.REPLACE, args[0], args[1])
    if name == "delete_user":
        return session.write(Kind.USER, Op.DELETE, args)
    if name == "delete_group":
        return session.write(Kind.GROUP, Op.DELETE, args)
    translate = [plan.source_ids.get(m, m) for m in args[-1]]
    if name == "create_group":
        body = {**args[0], "members": [{"value": m} for m in translate]}
        return session.write(Kind.GROUP, Op.CREATE, body)
    group_id, body, _ = args
    conn, tenant_id = session.conn, session.tenant.id
    current = mirror.get_group(conn, tenant_id, group_id)
    if (
        current
        and set(mirror.member_ids(conn, tenant_id, group_id)) == set(translate)
        and parse_group(body).resource == current.resource
    ):
        return None  # already in step
    body = {**body, "members": [{"value": m} for m in translate]}
    return session.write(Kind.GROUP, Op.REPLACE, group_id, body)


def apply_repair(
    engine: Engine,
    tenant_id: str,
    plan: MirrorPlan,
    *,
    publish: Publisher,
    fence: Callable[[], None] | None = None,
) -> dict[str, int]:
    """Apply the planned operations in small transactions, each published after its commit;
    `fence` is called before each (it raises when the run lost its lease)."""
    with unit_of_work(engine, write=False) as conn:
        tenant = tenants.get(conn, tenant_id)
    applied: dict[str, int] = {}
    for batch in chunked(plan.operations, BATCH):
        if fence is not None:
            fence()
        with ingest_session(
            engine,
            tenant,
            actor="reconcile",
            publish=publish,
            via="reconcile",
            source="reconcile",
            handlers=WRITES,  # a source's snapshot: no IdP dialect in between
        ) as session:
            for name, args in batch:
                if _apply_one(session, name, args, plan) is not None:
                    applied[f"mirror_{name}"] = applied.get(f"mirror_{name}", 0) + 1
    return applied
