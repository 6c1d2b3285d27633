"""The provisioning trace's reads: find who a search means, gather their rows, build.

Every query here is an index lookup keyed by tenant first (storage/schema.py:
ix_change_events_resource, ix_audit_log_target, ix_audit_log_event, trace_refs,
ix_dead_letters_resource), so a lookup costs the same at 1,000,000 events as at 100.
The words and the order are the core's (reconciler/trace.py). Never writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, func, select

from reconciler import trace as core
from reconciler.errors import NotFound
from storage.clock import as_utc
from storage.schema import (
    audit_log,
    change_events,
    dead_letters,
    group_memberships,
    members,
    mirror_groups,
    mirror_users,
    tenants,
    trace_refs,
    workspace_groups,
)
from storage.sql import chunked

MAX_ROWS = 2000  # per source, newest first: a history longer than this shows its latest part
INGEST_KEYS = ("request_id", "method", "path", "idp")


def find(conn: Connection, tenant_id: str, q: str) -> core.Subject | None:
    """The person or group `q` names: an email, userName, SCIM id, externalId, member id
    or group name (case-insensitive where SCIM says so). People before groups."""
    q = q.strip()
    if not q:
        return None
    low = q.lower()
    mu, m = mirror_users.c, members.c
    user_by = (
        ("scim_id", mu.id == q),
        ("userName", mu.user_name_ci == low),
        ("email", mu.email_ci == low),
        ("externalId", mu.external_id == q),
    )
    for how, where in user_by:
        row = conn.execute(
            select(mu.id, mu.email_ci, mu.user_name).where(mu.tenant_id == tenant_id, where)
        ).first()
        if row is not None:
            member = conn.execute(
                select(m.id).where(m.tenant_id == tenant_id, m.scim_user_id == row.id)
            ).first()
            label = row.email_ci or row.user_name
            return core.Subject("person", label, row.id, member.id if member else None, how)
    for how, where in (("member_id", m.id == q), ("email", m.email_ci == low)):
        member_row = conn.execute(
            select(m.id, m.email, m.scim_user_id).where(m.tenant_id == tenant_id, where)
        ).first()
        if member_row is not None:
            return core.Subject(
                "person", member_row.email, member_row.scim_user_id, member_row.id, how
            )
    return _find_group(conn, tenant_id, q) or _find_deleted(conn, tenant_id, q)


def _find_group(conn: Connection, tenant_id: str, q: str) -> core.Subject | None:
    mg, wg = mirror_groups.c, workspace_groups.c
    low = q.lower()
    for how, where in (
        ("scim_id", mg.id == q),
        ("group name", mg.display_name_ci == low),
        ("externalId", mg.external_id == q),
    ):
        row = conn.execute(
            select(mg.id, mg.display_name).where(mg.tenant_id == tenant_id, where)
        ).first()
        if row is not None:
            ws = conn.execute(
                select(wg.id).where(wg.tenant_id == tenant_id, wg.scim_group_id == row.id)
            ).first()
            return core.Subject("group", row.display_name, row.id, ws.id if ws else None, how)
    for how, where in (("group id", wg.id == q), ("group name", wg.name_ci == low)):
        ws_row = conn.execute(
            select(wg.id, wg.name, wg.scim_group_id).where(wg.tenant_id == tenant_id, where)
        ).first()
        if ws_row is not None:
            return core.Subject("group", ws_row.name, ws_row.scim_group_id, ws_row.id, how)
    return None


def _find_deleted(conn: Connection, tenant_id: str, q: str) -> core.Subject | None:
    """A SCIM id the IdP has since deleted: only its events remain."""
    ce = change_events.c
    for kind in ("User", "Group"):
        row = conn.execute(
            select(ce.id).where(
                ce.tenant_id == tenant_id, ce.resource_type == kind, ce.resource_id == q
            )
        ).first()
        if row is not None:
            return core.Subject("person" if kind == "User" else "group", q, q, None, "scim_id")
    return None


# --- gathering -------------------------------------------------------------------------


def _events(conn: Connection, tenant_id: str, kind: str, scim_id: str) -> list[Any]:
    ce = change_events.c
    return list(
        conn.execute(
            select(change_events)
            .where(ce.tenant_id == tenant_id, ce.resource_type == kind, ce.resource_id == scim_id)
            .order_by(ce.id.desc())
            .limit(MAX_ROWS)
        )
    )


def _group_events(conn: Connection, tenant_id: str, user_id: str) -> list[Any]:
    ce, tr = change_events.c, trace_refs.c
    return list(
        conn.execute(
            select(change_events, tr.change)
            .join(trace_refs, (tr.event_id == ce.id) & (tr.tenant_id == ce.tenant_id))
            .where(tr.tenant_id == tenant_id, tr.subject_id == user_id)
            .order_by(tr.event_id.desc())
            .limit(MAX_ROWS)
        )
    )


def _requests(conn: Connection, tenant_id: str, event_ids: Sequence[int]) -> dict[int, dict]:
    """The ingest audit row of each event: who asked, in which request."""
    a = audit_log.c
    found: dict[int, dict[str, Any]] = {}
    for chunk in chunked(event_ids, 500):
        rows = conn.execute(
            select(a.event_id, a.actor, a.detail).where(
                a.tenant_id == tenant_id, a.event_id.in_(chunk)
            )
        )
        for row in rows:
            detail = row.detail or {}
            request = {k: detail.get(k) for k in INGEST_KEYS} | {"actor": row.actor}
            if request["path"]:  # the tenant is known: /scim/v2/Users/<id> reads better
                request["path"] = request["path"].replace(f"/{tenant_id}", "", 1)
            found[row.event_id] = request
    return found


def _actions(conn: Connection, tenant_id: str, target: str) -> list[core.ActionFact]:
    a = audit_log.c
    rows = conn.execute(
        select(a.id, a.at, a.actor, a.action, a.target, a.detail)
        .where(a.tenant_id == tenant_id, a.target == target)
        .order_by(a.id.desc())
        .limit(MAX_ROWS)
    )
    return [
        core.ActionFact(r.id, as_utc(r.at), r.actor, r.action, r.target, r.detail or {})
        for r in rows
    ]


def _dead(conn: Connection, tenant_id: str, kind: str, scim_id: str) -> list[core.DeadLetterFact]:
    d = dead_letters.c
    rows = conn.execute(
        select(d.event_id, d.error_code, d.reason, d.first_failed_at).where(
            d.tenant_id == tenant_id, d.resource_type == kind, d.resource_id == scim_id
        )
    )
    return [
        core.DeadLetterFact(r.event_id, r.error_code, r.reason, as_utc(r.first_failed_at))
        for r in rows
    ]


def _fact(row: Any, request: dict[str, Any], **extra: Any) -> core.EventFact:
    return core.EventFact(
        id=row.id,
        resource_type=row.resource_type,
        resource_id=row.resource_id,
        operation=row.operation,
        source=row.source,
        payload=row.payload or {},
        received_at=as_utc(row.received_at),
        applied_at=as_utc(row.applied_at) if row.applied_at else None,
        state=row.state,
        request=request,
        **extra,
    )


def _group_names(conn: Connection, tenant_id: str, ids: set[str]) -> tuple[dict, dict]:
    """(mirror display names, workspace names) of SCIM groups, by SCIM id."""
    mg, wg = mirror_groups.c, workspace_groups.c
    names: dict[str, str] = {}
    ws: dict[str, str] = {}
    for chunk in chunked(sorted(ids), 500):
        names.update(
            conn.execute(
                select(mg.id, mg.display_name).where(mg.tenant_id == tenant_id, mg.id.in_(chunk))
            ).all()
        )
        ws.update(
            conn.execute(
                select(wg.scim_group_id, wg.name).where(
                    wg.tenant_id == tenant_id, wg.scim_group_id.in_(chunk)
                )
            ).all()
        )
    return names, ws


def _person_state(conn: Connection, tenant_id: str, member_id: str | None) -> core.CurrentState:
    m = members.c
    if member_id is None:
        return core.CurrentState(exists=False)
    row = conn.execute(
        select(m.status, m.scim_user_id).where(m.tenant_id == tenant_id, m.id == member_id)
    ).first()
    if row is None:
        return core.CurrentState(exists=False)
    gm, wg = group_memberships.c, workspace_groups.c
    names = conn.execute(
        select(wg.name)
        .join(group_memberships, (gm.tenant_id == wg.tenant_id) & (gm.group_id == wg.id))
        .where(gm.tenant_id == tenant_id, gm.member_id == member_id)
        .order_by(wg.name)
    ).scalars()
    return core.CurrentState(True, row.status, row.scim_user_id is not None, tuple(names))


def _group_state(conn: Connection, tenant_id: str, group_id: str | None) -> core.CurrentState:
    wg, gm = workspace_groups.c, group_memberships.c
    if group_id is None:
        return core.CurrentState(exists=False)
    row = conn.execute(
        select(wg.name, wg.scim_group_id).where(wg.tenant_id == tenant_id, wg.id == group_id)
    ).first()
    if row is None:
        return core.CurrentState(exists=False)
    count = conn.execute(
        select(func.count()).where(gm.tenant_id == tenant_id, gm.group_id == group_id)
    ).scalar_one()
    return core.CurrentState(
        True, None, row.scim_group_id is not None, (str(count),), workspace_name=row.name
    )


def gather(conn: Connection, tenant_id: str, subject: core.Subject) -> core.TraceFacts:
    idp = conn.execute(select(tenants.c.idp).where(tenants.c.id == tenant_id)).scalar()
    kind = "User" if subject.kind == "person" else "Group"
    own = _events(conn, tenant_id, kind, subject.scim_id) if subject.scim_id else []
    via_groups = (
        _group_events(conn, tenant_id, subject.scim_id)
        if kind == "User" and subject.scim_id
        else []
    )
    requests = _requests(conn, tenant_id, [r.id for r in own] + [r.id for r in via_groups])
    group_ids = {r.resource_id for r in via_groups}
    if kind == "Group" and subject.scim_id:
        group_ids.add(subject.scim_id)
    names, ws_names = _group_names(conn, tenant_id, group_ids)
    events = [_fact(r, requests.get(r.id, {})) for r in own]
    for r in via_groups:
        name = names.get(r.resource_id) or (r.payload or {}).get("displayName")
        events.append(_fact(r, requests.get(r.id, {}), group_name=name, member_change=r.change))
    if kind == "User":
        target = f"member:{subject.member_id}"
        state = _person_state(conn, tenant_id, subject.member_id)
    else:
        target = f"group:{subject.member_id}"
        state = _group_state(conn, tenant_id, subject.member_id)
    return core.TraceFacts(
        subject=subject,
        state=state,
        idp=idp or "generic",
        events=events,
        actions=_actions(conn, tenant_id, target) if subject.member_id else [],
        dead_letters=_dead(conn, tenant_id, kind, subject.scim_id) if subject.scim_id else [],
        workspace_groups=ws_names,
    )


def trace(conn: Connection, tenant_id: str, q: str) -> core.Timeline:
    """The timeline of whoever `q` names in the tenant; NotFound when nobody matches."""
    if conn.execute(select(tenants.c.id).where(tenants.c.id == tenant_id)).first() is None:
        raise NotFound(f"tenant {tenant_id} not found")
    subject = find(conn, tenant_id, q)
    if subject is None:
        raise NotFound(f"no member, SCIM user or group of this workspace matches {q!r}")
    return core.build(gather(conn, tenant_id, subject))
