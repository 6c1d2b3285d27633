"""The audit log's one writer: who changed what, when, in the caller's transaction.

`record` writes entries (admin actions, webhook receipts, applied workspace actions) in
one statement. `record_writes` is its bulk form for ingest: every accepted SCIM write is
already a change event, so it copies the events one request wrote into audit_log with
one INSERT ... SELECT, adding what the event log does not carry: the caller's identity
and the HTTP request (id, method, path, IdP) that the provisioning trace shows.
Both cut `target` to the column's width the same way. Never commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Connection,
    String,
    bindparam,
    func,
    insert,
    literal,
    select,
)

from storage.bulk import insert_rows
from storage.clock import utcnow
from storage.schema import audit_log, change_events, trace_refs
from storage.sql import one_of_param

TARGET_WIDTH = 200  # audit_log.target is String(200)


def refused_change_target(resource_type: str, resource_id: str) -> str:
    """The audit target of a write the ingest refused: `refused_user:<id>`."""
    return f"refused_{resource_type.lower()}:{resource_id}"[:TARGET_WIDTH]


@dataclass(frozen=True)
class AuditEntry:
    tenant_id: str
    actor: str
    action: str
    target: str
    detail: dict[str, Any] = field(default_factory=dict)
    at: datetime | None = None  # None: now


def record(conn: Connection, entries: Sequence[AuditEntry]) -> int:
    """Write `entries` in one statement; returns how many. Never commits."""
    if not entries:
        return 0
    now = utcnow()
    rows = [
        {
            "tenant_id": e.tenant_id,
            "actor": e.actor,
            "action": e.action,
            "target": e.target[:TARGET_WIDTH],
            "detail": e.detail,
            "at": e.at or now,
        }
        for e in entries
    ]
    insert_rows(conn, audit_log, rows)
    return len(rows)


@lru_cache(maxsize=2)
def _copy_events(dialect: str) -> Any:
    """INSERT INTO audit_log SELECT ... FROM change_events: one statement, built once per
    dialect, so a write pays no read-back of the events it just appended."""
    json_object = func.json_build_object if dialect == "postgresql" else func.json_object
    e = change_events.c
    prefix = bindparam("via", type_=String) + literal("_")
    request = [
        item
        for name in ("request_id", "method", "path", "idp")
        for item in (literal(name), bindparam(name, type_=String))
    ]
    kind = func.lower(e.resource_type)
    rows = (
        select(
            bindparam("tenant_id", type_=String),
            bindparam("actor", type_=String),
            prefix + e.operation + literal("_") + kind,
            func.substr(prefix + kind + literal(":") + e.resource_id, 1, TARGET_WIDTH),
            json_object("event_id", e.id, "version", e.version, *request),
            e.received_at,
            e.id,
        )
        # one statement text and plan for any batch on PostgreSQL: an IN list of 500
        # placeholders was re-parsed and re-planned per batch (10 s of a 100,000-user import)
        .where(e.tenant_id == bindparam("tenant_id"), one_of_param(dialect, e.id, "event_ids"))
        .order_by(e.id)
    )
    columns = ["tenant_id", "actor", "action", "target", "detail", "at", "event_id"]
    return insert(audit_log).from_select(columns, rows)


@dataclass(frozen=True)
class RequestOrigin:
    """The HTTP request behind a write, as the trace shows it (never headers or a body)."""

    request_id: str | None = None
    method: str | None = None
    path: str | None = None
    idp: str | None = None


def record_writes(
    conn: Connection,
    tenant_id: str,
    *,
    actor: str,
    event_ids: Sequence[int],
    via: str = "scim",
    origin: RequestOrigin | None = None,
) -> int:
    """One audit row per change event in `event_ids`, e.g. action `scim_patch_group`,
    target `scim_group:<id>`, with the event's id and the request's `origin` in it;
    returns the number written. Never commits."""
    if not event_ids:
        return 0
    params = {
        "tenant_id": tenant_id,
        "actor": actor,
        "via": via,
        "event_ids": list(event_ids),
        **vars(origin or RequestOrigin()),
    }
    return int(conn.execute(_copy_events(conn.dialect.name), params).rowcount)


def record_touched(
    conn: Connection, tenant_id: str, touched: Sequence[tuple[int, str, str]]
) -> int:
    """`(group event id, user id, "joined" | "left")`: the users whose membership a group
    write changed, in one statement. Never commits."""
    if not touched:
        return 0
    moves = {(event_id, user_id): change for event_id, user_id, change in touched}
    rows = [
        {"tenant_id": tenant_id, "event_id": event_id, "subject_id": user_id, "change": change}
        for (event_id, user_id), change in moves.items()
    ]
    insert_rows(conn, trace_refs, rows)
    return len(rows)
