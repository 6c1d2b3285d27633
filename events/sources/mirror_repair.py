"""Repair the mirror from an outside source of IdP state (pushes that never arrived).

Streamed, in bounded memory whatever the size: the source (users, then groups) is read
a batch at a time and each batch compared with its keys' mirror rows only. What the
source holds is staged in SQL (`reconcile_source_keys`: each userName / displayName
with the source's id and ours), so deletions are an anti-join in key order and group
members translate from the source's ids to ours with no map in memory.

Two passes, like the full run: `plan_repair` compares and hands each batch's items to
the run's sink, counting the destructive ones (deletions, deactivations) so the safety
valve can stop a broken snapshot before anything is written; `apply_repair` reads the
source again and writes each batch in its own transaction through the one ingest write
path (change event, audit row, published after commit), re-comparing against the
mirror at that moment, after the run's fencing check. A run killed half-way is run
again to the same result. Users match by userName, groups by displayName; the bodies
are a SCIM server's reads, not an IdP's pushes, so no dialect applies.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

from sqlalchemy import Connection, Engine, exists, insert, select, update

from events.ingest.service import IngestSession, Publisher, ingest_session
from events.ingest.writes import WRITES, Kind, Op
from events.scim.resources import parse_group, parse_user
from reconciler.drift import DriftItem, ItemKind, ResourceType
from reconciler.errors import Refusal
from storage import tenants
from storage.db import unit_of_work
from storage.schema import mirror_group_members, mirror_groups, mirror_users
from storage.schema import reconcile_source_keys as staged

BATCH = 500
Source = Callable[[], Iterable[tuple[str, dict[str, Any]]]]  # a fresh read of the source
Sink = Callable[[Sequence[DriftItem]], None]


@dataclass
class RepairSummary:
    operations: int = 0
    destructive: int = 0
    invalid: int = 0


@dataclass(frozen=True)
class _Entry:
    """One resource of the source, parsed."""

    kind: ResourceType
    key: str  # userName / displayName, lower-cased
    name: str
    source_id: str
    body: dict[str, Any]  # without id and meta
    resource: dict[str, Any]  # as the mirror stores it
    members: tuple[str, ...] = ()  # source ids (groups)


def _entries(
    source: Iterable[tuple[str, dict[str, Any]]], kind: ResourceType, summary: RepairSummary
) -> Iterator[_Entry]:
    for got, raw in source:
        if got != kind:
            continue
        body = {k: v for k, v in raw.items() if k not in ("id", "meta")}
        try:
            parsed: Any = parse_user(body) if kind == "User" else parse_group(body)
        except Refusal:
            summary.invalid += 1
            continue
        name = str(parsed.resource["userName" if kind == "User" else "displayName"])
        members = tuple(str(m) for m in parsed.member_ids or []) if kind == "Group" else ()
        source_id = str(raw.get("id") or name)
        yield _Entry(kind, name.lower(), name, source_id, body, parsed.resource, members)


def _batches(entries: Iterator[_Entry]) -> Iterator[list[_Entry]]:
    while batch := list(islice(entries, BATCH)):
        seen: dict[str, _Entry] = {}
        for entry in batch:  # a key twice in one batch: the later line wins
            seen[entry.key] = entry
        yield list(seen.values())


def _table(kind: ResourceType) -> tuple[Any, Any]:
    """The mirror table of a kind and its matching key (lower-cased name)."""
    if kind == "User":
        return mirror_users, mirror_users.c.user_name_ci
    return mirror_groups, mirror_groups.c.display_name_ci


def _current(
    conn: Connection, tenant_id: str, kind: ResourceType, keys: list[str]
) -> dict[str, tuple[str, dict[str, Any]]]:
    table, key = _table(kind)
    rows = conn.execute(
        select(key, table.c.id, table.c.resource).where(
            table.c.tenant_id == tenant_id, key.in_(keys)
        )
    )
    return {k: (i, r) for k, i, r in rows.tuples().all()}


def _stage(conn: Connection, run_id: int, batch: list[_Entry], ours: dict[str, str]) -> None:
    """Record the batch's keys (once: a key seen in an earlier batch keeps its row)."""
    kind = batch[0].kind
    keys = [e.key for e in batch]
    known = set(
        conn.execute(
            select(staged.c.key_ci).where(
                staged.c.run_id == run_id, staged.c.resource_type == kind, staged.c.key_ci.in_(keys)
            )
        ).scalars()
    )
    rows = [
        {
            "run_id": run_id,
            "resource_type": kind,
            "key_ci": e.key,
            "source_id": e.source_id,
            "our_id": ours.get(e.key),
        }
        for e in batch
        if e.key not in known
    ]
    if rows:
        conn.execute(insert(staged), rows)


def _translate(conn: Connection, run_id: int, source_ids: set[str]) -> dict[str, str | None]:
    """Source member ids -> our user ids (None: not in the mirror yet); an id the source
    does not know is taken as ours."""
    found: dict[str, str | None] = {}
    ids = list(source_ids)
    for start in range(0, len(ids), BATCH):
        part = ids[start : start + BATCH]
        rows = conn.execute(
            select(staged.c.source_id, staged.c.our_id).where(
                staged.c.run_id == run_id,
                staged.c.resource_type == "User",
                staged.c.source_id.in_(part),
            )
        )
        found.update(dict(rows.tuples().all()))
    return {i: found.get(i, i) for i in ids}


def _mirror_members(conn: Connection, tenant_id: str, group_ids: list[str]) -> dict[str, set[str]]:
    held: dict[str, set[str]] = {g: set() for g in group_ids}
    rows = conn.execute(
        select(mirror_group_members.c.group_id, mirror_group_members.c.member_id).where(
            mirror_group_members.c.tenant_id == tenant_id,
            mirror_group_members.c.group_id.in_(group_ids),
        )
    )
    for group_id, member_id in rows.tuples().all():
        held[group_id].add(member_id)
    return held


def _changed(
    before: dict[str, Any], after: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    keys = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}


def _item(
    kind: ResourceType,
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
        kind,
        scim_id,
        name,
        consequence,
        before or {},
        after or {},
        destructive,
    )


# --- comparing one batch: the operations it needs, each with its item ---------------------

Operation = tuple[str, _Entry | tuple[str, str], DriftItem]  # (name, what, item)


def _user_ops(
    batch: list[_Entry], current: dict[str, tuple[str, dict[str, Any]]]
) -> list[Operation]:
    ops: list[Operation] = []
    for e in batch:
        have = current.get(e.key)
        if have is None:
            after = {"userName": e.name, "active": e.resource.get("active", True)}
            consequence = "the mirror gains this IdP user; the workspace follows (rules 2, 3)"
            ops.append(
                ("create_user", e, _item("User", e.source_id, e.name, consequence, after=after))
            )
        elif e.resource != have[1]:
            off = bool(have[1].get("active", True) and not e.resource.get("active", True))
            before, after = _changed(have[1], e.resource)
            consequence = (
                "the IdP deactivated this user: its member becomes Deactivated"
                if off
                else "the mirror takes the IdP's values; the member follows"
            )
            item = _item("User", have[0], e.name, consequence, before, after, destructive=off)
            ops.append(("update_user", e, item))
    return ops


def _group_ops(
    conn: Connection,
    tenant_id: str,
    run_id: int,
    batch: list[_Entry],
    current: dict[str, tuple[str, dict[str, Any]]],
) -> list[Operation]:
    ids = _translate(conn, run_id, {m for e in batch for m in e.members})
    held = _mirror_members(conn, tenant_id, [have[0] for have in current.values()])
    ops: list[Operation] = []
    for e in batch:
        wanted = {ids[m] for m in e.members}
        have = current.get(e.key)
        if have is None:
            consequence = f"the mirror gains this IdP group ({len(e.members)} members)"
            after = {"displayName": e.name, "members": len(e.members)}
            ops.append(
                ("create_group", e, _item("Group", e.source_id, e.name, consequence, after=after))
            )
        elif e.resource != have[1] or wanted != held[have[0]]:
            before = {"members": len(held[have[0]])}
            after = {"members": len(e.members)}
            consequence = "the mirror takes the IdP's group and members; the workspace follows"
            ops.append(
                ("sync_group", e, _item("Group", have[0], e.name, consequence, before, after))
            )
    return ops


def _gone(
    conn: Connection, tenant_id: str, run_id: int, kind: ResourceType, after: str | None
) -> list[tuple[str, str]]:
    """The next mirror resources (id, name) the source did not have, in id order."""
    table, key = _table(kind)
    name = mirror_users.c.user_name if kind == "User" else mirror_groups.c.display_name
    seen = exists().where(
        staged.c.run_id == run_id, staged.c.resource_type == kind, staged.c.key_ci == key
    )
    query = select(table.c.id, name).where(table.c.tenant_id == tenant_id, ~seen)
    if after is not None:
        query = query.where(table.c.id > after)
    return [(i, n) for i, n in conn.execute(query.order_by(table.c.id).limit(BATCH)).tuples()]


def _gone_ops(kind: ResourceType, rows: list[tuple[str, str]]) -> list[Operation]:
    if kind == "User":
        consequence = "the IdP no longer has this user: its member leaves the workspace"
        return [
            (
                "delete_user",
                (i, n),
                _item("User", i, n, consequence, {"userName": n}, destructive=True),
            )
            for i, n in rows
        ]
    consequence = "the IdP no longer has this group: its workspace group is deleted"
    return [
        ("delete_group", (i, n), _item("Group", i, n, consequence, {"displayName": n}))
        for i, n in rows
    ]


# --- the two passes -----------------------------------------------------------------------


def plan_repair(
    engine: Engine, tenant_id: str, run_id: int, source: Source, sink: Sink
) -> RepairSummary:
    """Compare the source with the mirror; items to `sink`; nothing written but the staging."""
    summary = RepairSummary()
    for kind in ("User", "Group"):
        for batch in _batches(_entries(source(), kind, summary)):
            with unit_of_work(engine) as conn:
                current = _current(conn, tenant_id, kind, [e.key for e in batch])
                _stage(conn, run_id, batch, {k: v[0] for k, v in current.items()})
                ops = (
                    _user_ops(batch, current)
                    if kind == "User"
                    else _group_ops(conn, tenant_id, run_id, batch, current)
                )
            _count(summary, ops, sink)
        after: str | None = None
        while True:
            with unit_of_work(engine, write=False) as conn:
                rows = _gone(conn, tenant_id, run_id, kind, after)
            if not rows:
                break
            after = rows[-1][0]
            _count(summary, _gone_ops(kind, rows), sink)
    return summary


def _count(summary: RepairSummary, ops: list[Operation], sink: Sink) -> None:
    if ops:
        summary.operations += len(ops)
        summary.destructive += sum(item.destructive for _, _, item in ops)
        sink([item for _, _, item in ops])


def apply_repair(
    engine: Engine,
    tenant_id: str,
    run_id: int,
    source: Source,
    *,
    publish: Publisher,
    fence: Callable[[], None] | None = None,
) -> dict[str, int]:
    """Read the source again and write what still differs, a batch per transaction."""
    with unit_of_work(engine, write=False) as conn:
        tenant = tenants.get(conn, tenant_id)
    applied: dict[str, int] = {}
    summary = RepairSummary()

    def session() -> Any:
        if fence is not None:
            fence()
        return ingest_session(
            engine,
            tenant,
            actor="reconcile",
            publish=publish,
            via="reconcile",
            source="reconcile",
            handlers=WRITES,  # a source's snapshot: no IdP dialect in between
        )

    for kind in ("User", "Group"):
        for batch in _batches(_entries(source(), kind, summary)):
            with session() as s:
                current = _current(s.conn, tenant_id, kind, [e.key for e in batch])
                ops = (
                    _user_ops(batch, current)
                    if kind == "User"
                    else _group_ops(s.conn, tenant_id, run_id, batch, current)
                )
                for name, what, _ in ops:
                    _write(s, run_id, name, what)
                    applied[name] = applied.get(name, 0) + 1
        while True:
            with unit_of_work(engine, write=False) as conn:
                rows = _gone(conn, tenant_id, run_id, kind, None)
            if not rows:
                break
            with session() as s:
                for name, what, _ in _gone_ops(kind, rows):
                    _write(s, run_id, name, what)
                    applied[name] = applied.get(name, 0) + 1
    return applied


def _write(s: IngestSession, run_id: int, name: str, what: Any) -> None:
    if name == "delete_user":
        s.write(Kind.USER, Op.DELETE, what[0])
    elif name == "delete_group":
        s.write(Kind.GROUP, Op.DELETE, what[0])
    elif name == "create_user":
        result = s.write(Kind.USER, Op.CREATE, what.body)
        if result.record is not None:  # group members in the source name it by its id
            s.conn.execute(
                update(staged)
                .where(
                    staged.c.run_id == run_id,
                    staged.c.resource_type == "User",
                    staged.c.key_ci == what.key,
                )
                .values(our_id=result.record.id)
            )
    elif name == "update_user":
        current = _current(s.conn, s.tenant.id, "User", [what.key])[what.key]
        s.write(Kind.USER, Op.REPLACE, current[0], what.body)
    else:
        ids = _translate(s.conn, run_id, set(what.members))
        members = [{"value": ids[m]} for m in what.members if ids[m] is not None]
        body = {**what.body, "members": members}
        if name == "create_group":
            s.write(Kind.GROUP, Op.CREATE, body)
        else:
            current = _current(s.conn, s.tenant.id, "Group", [what.key])[what.key]
            s.write(Kind.GROUP, Op.REPLACE, current[0], body)
