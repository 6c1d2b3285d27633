"""Repair the mirror from an outside source of IdP state (pushes that never arrived).

Streamed, in bounded memory whatever the size: the source (users, then groups) is read
a batch at a time and each batch compared with its keys' mirror rows only. What the
source holds is kept in SQL (storage/source_keys.py: each userName / displayName with
the source's id and ours, and a fingerprint of its body), so deletions are an anti-join,
group members translate from the source's ids to ours with no map in memory, and a
resource unchanged since the last run (same body, same mirror version) is not parsed.

Two passes, like the full run: `plan_repair` (here) compares, hands each batch's items
to the run's sink and keeps what the writes would leave as the run's planned mirror
(storage/planned_mirror.py): the workspace pass plans against it, so a dry run lists
the workspace's every consequence and the safety valve weighs them (the members a
broken snapshot would remove) before anything is written; `apply_repair`
(events/sources/repair_writes.py) reads the source again and writes each batch in its
own transaction through the one ingest write path (change event, audit row, published
after commit), re-comparing against the mirror at that moment, after the run's fencing
check. A run the valve cannot stop (forced, or into an empty mirror: a first import)
does both in one pass, `repair`, which validates each new resource once. A run killed
half-way is run again to the same result. Users match by userName, groups by
displayName; the bodies are a SCIM server's reads, not an IdP's pushes, so no dialect
applies.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, select

from events.scim.resources import parse_group, parse_user
from events.sources.planned_rows import planned_rows
from reconciler.drift import DriftItem, ItemKind, ResourceType
from reconciler.errors import Refusal
from reconciler.ids import new_id
from storage import planned_mirror, source_keys
from storage.db import unit_of_work
from storage.schema import mirror_group_members as mgm
from storage.workspace.statistics import refresh_statistics

BATCH = 500
# A fresh read of the source's resources of one kind.
Source = Callable[[ResourceType], Iterable[tuple[str, dict[str, Any]]]]


class Sink(Protocol):
    """Stores a batch's items: in `conn`'s transaction when given (the batch's own, so the
    items and the writes they name commit or vanish together), else in one of its own."""

    def __call__(self, items: Sequence[DriftItem], conn: Connection | None = None) -> None: ...


KINDS: tuple[ResourceType, ...] = ("User", "Group")


@dataclass
class RepairSummary:  # what a plan found
    operations: int = 0
    invalid: int = 0


@dataclass
class Entry:  # one resource of the source; parsed only when it may have changed
    kind: ResourceType
    key: str  # userName / displayName, lower-cased
    source_id: str
    body: dict[str, Any]  # without id and meta
    digest: str
    members: tuple[str, ...] = ()  # source ids (groups)
    resource: dict[str, Any] = field(default_factory=dict)  # as the mirror stores it
    parsed: Any = None  # the ParsedUser / ParsedGroup, once validated: the write takes it
    ours: tuple[str, ...] = ()  # a group's members as our ids (those in the mirror)
    validated: Any = None  # what `validate` gave, when it ran ahead (events/sources/ahead.py)
    have: tuple[str, dict[str, Any], int] | None = None  # its mirror row: (id, resource, version)
    planned_id: str | None = None  # a new resource's id: the plan's, which the write keeps

    @property
    def name(self) -> str:
        return str(self.resource.get("userName" if self.kind == "User" else "displayName"))


def entries(source: Iterable[tuple[str, dict[str, Any]]], kind: ResourceType) -> Iterator[Entry]:
    label = "userName" if kind == "User" else "displayName"
    for got, raw in source:
        if got == kind:
            body = {k: v for k, v in raw.items() if k not in ("id", "meta")}
            text = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
            members = tuple(
                str(m.get("value")) for m in body.get("members") or [] if isinstance(m, dict)
            )
            key = str(body.get(label) or "").lower()
            source_id = str(raw.get("id") or key)
            digest = hashlib.sha1(text.encode()).hexdigest()
            yield Entry(kind, key, source_id, body, digest, members)


def batches(entries: Iterator[Entry]) -> Generator[list[Entry], None, None]:
    while batch := list(islice(entries, BATCH)):
        yield list({e.key: e for e in batch}.values())  # a key twice: the later line wins


def validate(entry: Entry) -> Any:
    """The entry's ParsedUser / ParsedGroup, or the Refusal that says why it is not one."""
    try:
        return (parse_user if entry.kind == "User" else parse_group)(entry.body)
    except Refusal as refusal:
        return refusal


def validate_ahead(entry: Entry) -> None:
    entry.validated = validate(entry)


def _parse(entry: Entry, summary: RepairSummary) -> bool:
    parsed = entry.validated if entry.validated is not None else validate(entry)
    if isinstance(parsed, Refusal):
        summary.invalid += 1
        return False
    entry.resource, entry.parsed = parsed.resource, parsed
    return True


def _held(conn: Connection, tenant_id: str, group_ids: list[str]) -> dict[str, set[str]]:
    held: dict[str, set[str]] = {g: set() for g in group_ids}
    query = select(mgm.c.group_id, mgm.c.member_id).where(
        mgm.c.tenant_id == tenant_id, mgm.c.group_id.in_(group_ids)
    )
    for group_id, member_id in conn.execute(query).tuples().all():
        held[group_id].add(member_id)
    return held


def _item(kind: ResourceType, scim_id: str, name: str, consequence: str, **kw: Any) -> DriftItem:
    """A mirror item names its workspace consequence but is never destructive itself: the
    workspace pass, planned against the planned mirror, lists the member it removes or
    deactivates as an item of its own, which the safety valve counts."""
    before, after = kw.get("before") or {}, kw.get("after") or {}
    return DriftItem(ItemKind.MIRROR_REPAIRED, kind, scim_id, name, consequence, before, after)


def _changed(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    keys = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    return {"before": {k: before.get(k) for k in keys}, "after": {k: after.get(k) for k in keys}}


Operation = tuple[str, Any, DriftItem]  # (write, what, item)


def compare(
    conn: Connection,
    tenant_id: str,
    run_id: int,
    batch: list[Entry],
    summary: RepairSummary,
    applying: bool = False,
) -> tuple[list[Operation], list[dict[str, Any]]]:
    """The writes one batch needs, and the source-key rows of what it parsed (the caller
    records them: `source_keys.record`); marks what it need not parse as seen.
    `applying`: a new user this run's plan already validated is not parsed here (the
    write validates it, once in this pass)."""
    kind = batch[0].kind
    keys = [e.key for e in batch]
    # An import grows the mirror and the staging as it goes: planned without statistics
    # (autovacuum is behind, or off), the key lookups below read the tenant's every row.
    refresh_statistics(conn)
    current = source_keys.current(conn, tenant_id, kind, keys)
    staged = source_keys.staged(conn, tenant_id, kind, keys)
    ids: dict[str, str | None] = {}
    held: dict[str, set[str]] = {}
    if kind == "Group":
        members = {m for e in batch for m in e.members}
        ids = source_keys.translate(conn, tenant_id, members, run_id)
        held = _held(conn, tenant_id, [have[0] for have in current.values()])
    ops: list[Operation] = []
    seen: list[str] = []
    rows: list[dict[str, Any]] = []
    for e in batch:
        have, was = current.get(e.key), staged.get(e.key)
        e.have = have
        if have is None:
            e.planned_id = _planned_id(was)
        wanted = {ids[m] for m in e.members}
        e.ours = tuple(i for i in (ids[m] for m in e.members) if i is not None)
        same_members = kind == "User" or (have is not None and wanted == held[have[0]])
        unchanged = have and was and (was.digest, was.mirror_version) == (e.digest, have[2])
        if unchanged and same_members:
            seen.append(e.key)  # the same body and mirror version as last time: not parsed
            continue
        if applying and kind == "User" and have is None and was and was.seen_run == run_id:
            ops.append(("create_user", e, _item("User", e.source_id, e.key, "created")))
            continue
        if not _parse(e, summary):
            continue
        in_step = have is not None and e.resource == have[1] and same_members
        rows.append(
            {
                "key_ci": e.key,
                "source_id": e.source_id,
                "our_id": have[0] if have else e.planned_id,
                "digest": e.digest if in_step else None,  # a write records it once done
                "mirror_version": have[2] if have else None,
            }
        )
        if not in_step:
            ops.append(_operation(e, have, held))
    source_keys.mark_seen(conn, tenant_id, kind, run_id, seen)
    return ops, rows


def _planned_id(was: source_keys.Staged | None) -> str:
    """The id a resource new to the mirror will have: the one an earlier plan gave it (a
    dry run's, so that the real run names the same ids), else a new one."""
    if was is not None and was.our_id and was.mirror_version is None:
        return was.our_id
    return new_id()


def _operation(
    e: Entry, have: tuple[str, dict[str, Any], int] | None, held: dict[str, set[str]]
) -> Operation:
    if e.kind == "User" and have is None:
        after = {"userName": e.name, "active": e.resource.get("active", True)}
        why = "the mirror gains this IdP user; the workspace follows (rules 2, 3)"
        return "create_user", e, _item("User", e.source_id, e.name, why, after=after)
    if e.kind == "User" and have is not None:
        off = bool(have[1].get("active", True) and not e.resource.get("active", True))
        why = (
            "the IdP deactivated this user: its member becomes Deactivated"
            if off
            else "the mirror takes the IdP's values; the member follows"
        )
        change = _changed(have[1], e.resource)
        return "update_user", e, _item("User", have[0], e.name, why, **change)
    if have is None:
        why = f"the mirror gains this IdP group ({len(e.members)} members)"
        after = {"displayName": e.name, "members": len(e.members)}
        return "create_group", e, _item("Group", e.source_id, e.name, why, after=after)
    why = "the mirror takes the IdP's group and members; the workspace follows"
    counts = {"before": {"members": len(held[have[0]])}, "after": {"members": len(e.members)}}
    return "sync_group", e, _item("Group", have[0], e.name, why, **counts)


def gone_ops(kind: ResourceType, rows: list[tuple[str, str]]) -> list[Operation]:
    if kind == "User":
        why = "the IdP no longer has this user: its member leaves the workspace"
        return [
            (
                "delete_user",
                (i, n),
                _item(kind, i, n, why, before={"userName": n}),
            )
            for i, n in rows
        ]
    why = "the IdP no longer has this group: its workspace group is deleted"
    return [
        ("delete_group", (i, n), _item(kind, i, n, why, before={"displayName": n})) for i, n in rows
    ]


# --- the two passes -----------------------------------------------------------------------


def plan_repair(
    engine: Engine, tenant_id: str, run_id: int, source: Source, sink: Sink
) -> RepairSummary:
    """Compare the source with the mirror; items to `sink`; only the staging is written."""
    summary = RepairSummary()
    for kind in KINDS:
        for batch in batches(entries(source(kind), kind)):
            with unit_of_work(engine) as conn:
                ops, rows = compare(conn, tenant_id, run_id, batch, summary)
                source_keys.record(conn, tenant_id, batch[0].kind, run_id, rows)
                _plan(conn, tenant_id, run_id, ops)
                tally(summary, ops, sink, conn)
        after: str | None = None
        while True:
            with unit_of_work(engine, write=False) as conn:
                gone = source_keys.gone(conn, tenant_id, kind, run_id, after, BATCH)
            if not gone:
                break
            after = gone[-1][0]
            with unit_of_work(engine) as conn:
                _plan(conn, tenant_id, run_id, ops := gone_ops(kind, gone))
                tally(summary, ops, sink, conn)
    return summary


def _plan(conn: Connection, tenant_id: str, run_id: int, ops: list[Operation]) -> None:
    """Keep what the operations would leave in the mirror: the run's planned mirror, which
    the workspace pass plans against (storage/planned_mirror.py)."""
    if ops:
        rows = planned_rows(tenant_id, ops)
        planned_mirror.record(conn, run_id, rows.users, rows.groups, rows.members(tenant_id))


def tally(
    summary: RepairSummary, ops: list[Operation], sink: Sink, conn: Connection | None = None
) -> None:
    if ops:
        summary.operations += len(ops)
        sink([item for _, _, item in ops], conn)
