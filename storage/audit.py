"""The audit log's one writer: who changed what, when, in the caller's transaction.

`record` writes entries (admin actions, webhook receipts, applied workspace actions) in
one statement. `record_writes` is its bulk form for ingest: every accepted SCIM write is
already a change event, so it copies the events one request wrote into audit_log with
one INSERT ... SELECT, adding the caller's identity that the event log does not carry.
Both cut `target` to the column's width the same way. Never commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, String, bindparam, func, insert, literal, select

from storage.clock import utcnow
from storage.schema import audit_log, change_events

TARGET_WIDTH = 200  # audit_log.target is String(200)


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
    conn.execute(insert(audit_log), rows)
    return len(rows)


@lru_cache(maxsize=2)
def _copy_events(dialect: str) -> Any:
    """INSERT INTO audit_log SELECT ... FROM change_events: one statement, built once per
    dialect, so a write pays no read-back of the events it just appended."""
    json_object = func.json_build_object if dialect == "postgresql" else func.json_object
    e = change_events.c
    prefix = bindparam("via", type_=String) + literal("_")
    kind = func.lower(e.resource_type)
    rows = (
        select(
            bindparam("tenant_id", type_=String),
            bindparam("actor", type_=String),
            prefix + e.operation + literal("_") + kind,
            func.substr(prefix + kind + literal(":") + e.resource_id, 1, TARGET_WIDTH),
            json_object("event_id", e.id, "version", e.version),
            e.received_at,
        )
        .where(
            e.tenant_id == bindparam("tenant_id"),
            e.id.in_(bindparam("event_ids", expanding=True)),
        )
        .order_by(e.id)
    )
    columns = ["tenant_id", "actor", "action", "target", "detail", "at"]
    return insert(audit_log).from_select(columns, rows)


def record_writes(
    conn: Connection, tenant_id: str, *, actor: str, event_ids: Sequence[int], via: str = "scim"
) -> int:
    """One audit row per change event in `event_ids`, e.g. action `scim_patch_group`,
    target `scim_group:<id>`; returns the number written. Never commits."""
    if not event_ids:
        return 0
    params = {"tenant_id": tenant_id, "actor": actor, "via": via, "event_ids": list(event_ids)}
    return int(conn.execute(_copy_events(conn.dialect.name), params).rowcount)
