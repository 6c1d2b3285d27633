"""The figures on the operator dashboard, read through the functions the CLI already uses.

Per tenant: members by status, groups by origin, the pipeline (`pipeline_status`, as
`scimsync status` shows it), dead letters, recent reconcile runs with their drift, and
the last change events. Counts are set-based (one GROUP BY for every tenant), lists are
bounded. What turns a figure red is data (`ALERT_RULES`), checked by a pure function.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, case, func, select

from events.ops.sparkline import WINDOW, trends
from events.runtime import OperatorActions
from reconciler.model import MemberStatus
from storage import (
    mirror_names,
    outbox,
    pipeline_samples,
    reconcile_items,
    reconcile_store,
    tenants,
)
from storage.clock import as_utc, utcnow
from storage.db import unit_of_work
from storage.schema import (
    change_events,
    dead_letters,
    members,
    workspace_groups,
)

STALE_BACKLOG_SECONDS = 300.0  # an unapplied event older than this is an incident
RECENT_EVENTS = 20
RECENT_RUNS = 10
RUN_ITEMS_SHOWN = 500  # a run page's items; the CLI and the API page through all
DRIFT_RUNS = 30  # runs on a tenant's Drift page
DEAD_LETTERS_SHOWN = 50
STATUSES = tuple(status.value for status in MemberStatus)


@dataclass(frozen=True)
class AlertRule:
    code: str
    fires: Callable[[Mapping[str, Any]], bool]
    message: Callable[[Mapping[str, Any]], str]


ALERT_RULES: tuple[AlertRule, ...] = (
    AlertRule(
        "dead_letters",
        lambda p: p["dead_letters"] > 0,
        lambda p: f"{p['dead_letters']} dead letter(s): fix the cause, then replay",
    ),
    AlertRule(
        "stale_backlog",
        lambda p: (p["oldest_unapplied_age_seconds"] or 0.0) > STALE_BACKLOG_SECONDS,
        lambda p: (
            f"oldest unapplied event is {p['oldest_unapplied_age_seconds'] / 60:.0f} min "
            "old (over 5 min): is a worker running?"
        ),
    ),
)


def alerts(pipeline: Mapping[str, Any]) -> list[dict[str, str]]:
    return [
        {"code": rule.code, "message": rule.message(pipeline)}
        for rule in ALERT_RULES
        if rule.fires(pipeline)
    ]


def failure_rate(applied_recent: int, failures_recent: int) -> float:
    """Share of the window's events that failed at least once; 0 when nothing moved."""
    seen = applied_recent + failures_recent
    return failures_recent / seen if seen else 0.0


def drift_total(counts: object) -> int:
    """A run's `counts` is {action kind: n}; anything not a number there is not drift."""
    if not isinstance(counts, dict):
        return 0
    return sum(int(n) for n in counts.values() if isinstance(n, int) and not isinstance(n, bool))


def _utc(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None


def member_counts(conn: Connection) -> dict[str, dict[str, int]]:
    """{tenant: {status: n}} for every tenant with members, zeros filled in."""
    rows = conn.execute(
        select(members.c.tenant_id, members.c.status, func.count()).group_by(
            members.c.tenant_id, members.c.status
        )
    )
    counts: dict[str, dict[str, int]] = {}
    for tenant_id, status, n in rows:
        counts.setdefault(tenant_id, dict.fromkeys(STATUSES, 0))[status] = int(n)
    return counts


def group_counts(conn: Connection) -> dict[str, dict[str, int]]:
    """{tenant: {"scim": n, "native": n}}: a group linked to a SCIM group is SCIM-managed."""
    origin = case((workspace_groups.c.scim_group_id.is_(None), "native"), else_="scim")
    rows = conn.execute(
        select(workspace_groups.c.tenant_id, origin, func.count()).group_by(
            workspace_groups.c.tenant_id, origin
        )
    )
    counts: dict[str, dict[str, int]] = {}
    for tenant_id, kind, n in rows:
        counts.setdefault(tenant_id, {"scim": 0, "native": 0})[kind] = int(n)
    return counts


def recent_events(
    conn: Connection, tenant_id: str, limit: int = RECENT_EVENTS
) -> list[dict[str, Any]]:
    ce = change_events
    rows = conn.execute(
        select(
            ce.c.id,
            ce.c.received_at,
            ce.c.applied_at,
            ce.c.resource_type,
            ce.c.resource_id,
            ce.c.operation,
            ce.c.source,
            ce.c.state,
            ce.c.attempts,
        )
        .where(ce.c.tenant_id == tenant_id)
        .order_by(ce.c.id.desc())
        .limit(limit)
    )
    return [
        {**r._mapping, "received_at": _utc(r.received_at), "applied_at": _utc(r.applied_at)}
        for r in rows
    ]


def _named(conn: Connection, tenant_id: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    refs = [(r["resource_type"], r["resource_id"]) for r in rows]
    names = mirror_names.resource_names(conn, tenant_id, refs)
    return [r | {"resource_name": names.get((r["resource_type"], r["resource_id"]))} for r in rows]


def fleet_row(section: Mapping[str, Any]) -> dict[str, Any]:
    """One tenant in the fleet table: is it healthy, is it keeping up, when did it last
    reconcile and what did that find."""
    p, runs = section["pipeline"], section["reconcile_runs"]
    last = runs[0] if runs else None
    return {
        "id": section["id"],
        "name": section["name"],
        "healthy": not section["alerts"],
        "alerts": [a["code"] for a in section["alerts"]],
        "queue_depth": p["queue_depth"],
        "oldest_unapplied_age_seconds": p["oldest_unapplied_age_seconds"],
        "lag_p99_seconds": p["lag_p99_seconds"],
        "dead_letters": section["dead_letters"]["count"],
        "last_reconcile": None
        if last is None
        else {k: last[k] for k in ("id", "outcome", "started_at", "drift")},
    }


def _dead_letters(conn: Connection, tenant_id: str) -> list[dict[str, Any]]:
    return [
        {
            key: row._mapping[key]
            for key in (
                "id",
                "event_id",
                "resource_type",
                "resource_id",
                "error_code",
                "reason",
                "attempts",
            )
        }
        | {"last_failed_at": _utc(row.last_failed_at)}
        for row in outbox.list_dead_letters(conn, tenant_id, DEAD_LETTERS_SHOWN)
    ]


def _runs(conn: Connection, tenant_id: str) -> list[dict[str, Any]]:
    return [
        {
            **run,
            "drift": drift_total(run["counts"]),
            "started_at": _utc(run["started_at"]),
            "finished_at": _utc(run["finished_at"]),
        }
        for run in reconcile_store.recent_runs(conn, tenant_id, RECENT_RUNS)
    ]


def _pipeline(status: Mapping[str, Any]) -> dict[str, Any]:
    keys = (
        "queue_depth",
        "oldest_unapplied_age_seconds",
        "lag_p50_seconds",
        "lag_p99_seconds",
        "applied_recent",
        "failures_recent",
    )
    figures = {key: status[key] for key in keys}
    figures["failure_rate"] = failure_rate(status["applied_recent"], status["failures_recent"])
    return figures


def summary(
    engine: Engine,
    operations: OperatorActions,
    tenant_id: str | None = None,
    sample_seconds: float = 60.0,
) -> dict[str, Any]:
    """Everything the page shows, for every tenant or for one; JSON-ready but for datetimes.
    `sample_seconds` is beat's sampling interval (the trends' applied-per-minute scale)."""
    now = utcnow()
    statuses = {
        s["tenant_id"]: s
        for s in operations.pipeline_status()
        if tenant_id in (None, s["tenant_id"])
    }
    sections = []
    with unit_of_work(engine, write=False) as conn:
        by_status, by_origin = member_counts(conn), group_counts(conn)
        sampled = pipeline_samples.since(
            conn, now - WINDOW, None if tenant_id is None else [tenant_id]
        )
        for tenant in tenants.list_all(conn):
            status = statuses.get(tenant.id)
            if status is None:
                continue
            sections.append(
                {
                    "id": tenant.id,
                    "name": tenant.name,
                    "idp": tenant.idp,
                    "scim_enabled": tenant.scim_enabled,
                    "members": by_status.get(tenant.id, dict.fromkeys(STATUSES, 0)),
                    "groups": by_origin.get(tenant.id, {"scim": 0, "native": 0}),
                    "pipeline": _pipeline(status),
                    "alerts": alerts(status),
                    "dead_letters": {
                        "count": status["dead_letters"],
                        "latest": _named(conn, tenant.id, _dead_letters(conn, tenant.id)),
                    },
                    "reconcile_runs": _runs(conn, tenant.id),
                    "recent_events": _named(conn, tenant.id, recent_events(conn, tenant.id)),
                    "trends": trends(
                        sampled.get(tenant.id, []), end=now, interval_seconds=sample_seconds
                    ),
                }
            )
    return {
        "generated_at": now,
        "ok": not any(section["alerts"] for section in sections),
        "fleet": [fleet_row(section) for section in sections],
        "tenants": sections,
    }


def run_report(
    engine: Engine, run_id: int, kinds: Sequence[str] = (), limit: int = RUN_ITEMS_SHOWN
) -> dict[str, Any] | None:
    """One reconcile run: its counts by item kind and its first items (of these kinds)."""
    with unit_of_work(engine, write=False) as conn:
        run = reconcile_store.get_run(conn, run_id)
        if run is None:
            return None
        tenant = tenants.find(conn, run["tenant_id"])
        items = reconcile_items.list_items(conn, run_id, kinds=kinds, limit=limit)
        matching = reconcile_items.count_items(conn, run_id, kinds=kinds)
    return {
        **run,
        "tenant_name": tenant.name if tenant else None,
        "drift": drift_total(run["counts"]),
        "started_at": _utc(run["started_at"]),
        "finished_at": _utc(run["finished_at"]),
        "kinds": list(kinds),
        "items": items,
        "items_matching": matching,
    }


def drift_page(engine: Engine, tenant_id: str, runs: int = DRIFT_RUNS) -> dict[str, Any] | None:
    """A tenant's Drift page: its last runs, oldest first for the chart."""
    with unit_of_work(engine, write=False) as conn:
        tenant = tenants.find(conn, tenant_id)
        if tenant is None:
            return None
        recent = reconcile_store.recent_runs(conn, tenant_id, runs)
    rows = [
        {
            **run,
            "drift": drift_total(run["counts"]),
            "started_at": _utc(run["started_at"]),
            "finished_at": _utc(run["finished_at"]),
        }
        for run in recent
    ]
    return {"tenant_id": tenant.id, "tenant_name": tenant.name, "runs": rows}


def replay(
    engine: Engine,
    operations: OperatorActions,
    ids: Sequence[int] | None = None,
    tenant_id: str | None = None,
) -> dict[str, Any]:
    """Replay the dead letters named by `ids`, of `tenant_id`, or (neither) all of them."""
    # An empty id list means "every dead letter" to the operation: never pass one on.
    if ids is not None and not ids:
        return {"replayed": 0, "tenants": []}
    if tenant_id is None:
        return operations.replay_dead_letters(list(ids) if ids is not None else None)
    query = select(dead_letters.c.id).where(dead_letters.c.tenant_id == tenant_id)
    if ids is not None:
        query = query.where(dead_letters.c.id.in_(list(ids)))
    with unit_of_work(engine, write=False) as conn:
        chosen = [row.id for row in conn.execute(query)]
    if not chosen:
        return {"replayed": 0, "tenants": []}
    return operations.replay_dead_letters(chosen)
