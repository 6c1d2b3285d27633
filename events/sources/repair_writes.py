"""The write side of a mirror repair (events/sources/mirror_repair.py compares).

`apply_repair` is the second of the two passes: it reads the source again after the
plan and writes what still differs. `repair` is both passes in one, for a run the
safety valve cannot stop (forced, or into a mirror with nothing in it: a first import):
each batch is compared, its new resources validated once and handed to the write as
validated, written in the batch's own transaction, and its items stored once that has
committed. Either way a batch's runs of new users, and of new groups, are written in a
few multi-row statements each (events/ingest/batches.py), the rest one at a time, all
through the one ingest write path (change event, audit row, published after commit),
each transaction after the run's fencing check.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, closing
from typing import Any

from sqlalchemy import Engine

from events.ingest.service import IngestSession, Publisher, ingest_session
from events.ingest.writes import WRITES, Kind, Op
from events.scim.resources import ParsedGroup
from events.sources import mirror_repair
from events.sources.ahead import prepared_ahead
from events.sources.mirror_repair import (
    KINDS,
    Entry,
    Operation,
    RepairSummary,
    Sink,
    Source,
    batches,
    compare,
    entries,
    gone_ops,
    tally,
    validate_ahead,
)
from reconciler.drift import ResourceType
from storage import source_keys, tenants
from storage.db import unit_of_work

Sessions = Callable[[], AbstractContextManager[IngestSession]]


def apply_repair(
    engine: Engine,
    tenant_id: str,
    run_id: int,
    source: Source,
    *,
    publish: Publisher,
    fence: Callable[[], None] | None = None,
) -> dict[str, int]:
    """Read the source again and write what still differs, a batch per transaction; how
    many writes of each kind were made."""
    applied: dict[str, int] = {}
    _run(engine, tenant_id, run_id, source, _sessions(engine, tenant_id, publish, fence), applied)
    return applied


def repair(
    engine: Engine,
    tenant_id: str,
    run_id: int,
    source: Source,
    sink: Sink,
    *,
    publish: Publisher,
    fence: Callable[[], None] | None = None,
    ahead: bool = False,
) -> RepairSummary:
    """`plan_repair` and `apply_repair` in one pass (module docstring): the same items to
    `sink`, the same writes, each resource read and validated once (`ahead`: see `_run`)."""
    summary = RepairSummary()
    sessions = _sessions(engine, tenant_id, publish, fence)
    _run(engine, tenant_id, run_id, source, sessions, {}, (summary, sink), ahead)
    return summary


def _sessions(
    engine: Engine, tenant_id: str, publish: Publisher, fence: Callable[[], None] | None
) -> Sessions:
    with unit_of_work(engine, write=False) as conn:
        tenant = tenants.get(conn, tenant_id)

    def session() -> AbstractContextManager[IngestSession]:
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

    return session


def _run(
    engine: Engine,
    tenant_id: str,
    run_id: int,
    source: Source,
    session: Sessions,
    applied: dict[str, int],
    planning: tuple[RepairSummary, Sink] | None = None,
    ahead: bool = False,
) -> None:
    """Compare and write each batch; `planning`: also count and store the items (one
    pass), else a plan of this run has validated its new users already. `ahead`: every
    user is validated on a helper thread before its batch is compared (a first import,
    where nothing is unchanged and every resource is validated anyway)."""
    summary, sink = planning or (RepairSummary(), None)

    def done(ops: list[Operation], s: IngestSession) -> None:
        if sink is not None:  # in the batch's transaction: the items commit with the writes
            tally(summary, ops, sink, s.conn)

    for kind in KINDS:
        read = batches(entries(source(kind), kind))
        if ahead and kind == "User":
            # Not groups: few, cheap to validate, and large (a batch of 500 holds 125,000
            # member references): batches held ahead cost 90 MB of RSS for nothing.
            read = prepared_ahead(read, validate_ahead)
        with closing(read):
            for batch in read:
                with session() as s:
                    ops, rows = compare(s.conn, tenant_id, run_id, batch, summary, sink is None)
                    writes = [(name, what) for name, what, _ in ops]
                    in_step = _write_batch(s, run_id, writes, applied)
                    # what the next run need not parse, in one statement (a key's last row wins)
                    source_keys.record(s.conn, tenant_id, kind, run_id, rows + in_step)
                    done(ops, s)
        for ops in _gone(engine, tenant_id, kind, run_id):
            with session() as s:
                for name, what, _ in ops:
                    _write(s, run_id, name, what)
                    applied[name] = applied.get(name, 0) + 1
                done(ops, s)


def _gone(engine: Engine, tenant_id: str, kind: ResourceType, run_id: int) -> Iterator[Any]:
    """Batches of deletions: what the mirror holds and this run did not see, until none."""
    while True:
        with unit_of_work(engine, write=False) as conn:
            rows = source_keys.gone(conn, tenant_id, kind, run_id, None, mirror_repair.BATCH)
        if not rows:
            return
        yield gone_ops(kind, rows)


def _write_batch(
    s: IngestSession, run_id: int, ops: list[tuple[str, Any]], applied: dict[str, int]
) -> list[dict[str, Any]]:
    """Write a batch's operations in order; runs of creates (a batch holds one kind) in
    one multi-row write each (a first import is mostly that), the rest one by one.
    Returns the source-key rows of what is in step now."""
    in_step: list[dict[str, Any]] = []
    creates: list[Entry] = []

    def create() -> None:
        if not creates:
            return
        ids = [e.planned_id for e in creates]
        if creates[0].kind == "User":
            # validated by this pass's compare, or (two passes) by the plan: then here
            results = s.create_users([e.parsed or e.body for e in creates], ids)
        else:
            results = s.create_groups([_with_our_members(e) for e in creates], ids)
        in_step.extend(_in_step(e, r.record) for e, r in zip(creates, results, strict=True))
        creates.clear()

    for name, what in ops:
        applied[name] = applied.get(name, 0) + 1
        if name in ("create_user", "create_group"):
            creates.append(what)
            continue
        create()
        row = _write(s, run_id, name, what)
        if row is not None:
            in_step.append(row)
    create()
    return in_step


def _with_our_members(e: Entry) -> ParsedGroup:
    """The group as validated, its members the ids the compare translated to ours."""
    return ParsedGroup(e.parsed.resource, list(e.ours))


def _in_step(e: Entry, record: Any) -> dict[str, Any]:
    return {
        "key_ci": e.key,
        "source_id": e.source_id,
        "our_id": record.id,
        "digest": e.digest,
        "mirror_version": record.version,
    }


def _write(s: IngestSession, run_id: int, name: str, what: Any) -> dict[str, Any] | None:
    """Write one deletion or update; for an update, the source-key row that records the
    resource as in step (the caller records a batch's rows at once)."""
    tenant_id = s.tenant.id
    if name in ("delete_user", "delete_group"):
        user = name == "delete_user"
        s.write(Kind.USER if user else Kind.GROUP, Op.DELETE, what[0])
        source_keys.forget(s.conn, tenant_id, "User" if user else "Group", str(what[1]).lower())
        return None
    e: Entry = what
    body = e.body
    if e.kind == "Group":
        body = {**body, "members": [{"value": i} for i in e.ours]}
    kind = Kind.USER if e.kind == "User" else Kind.GROUP
    ours = source_keys.current(s.conn, tenant_id, e.kind, [e.key])[e.key][0]
    result = s.write(kind, Op.REPLACE, ours, body)
    return None if result.record is None else _in_step(e, result.record)
