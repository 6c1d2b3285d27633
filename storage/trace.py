"""The provisioning trace's reads: find who a search means, gather their rows, build.

Every query here is an index lookup keyed by tenant first (storage/schema.py:
ix_change_events_resource, ix_audit_log_target, ix_audit_log_event, trace_refs,
ix_dead_letters_resource), so a lookup costs the same at 1,000,000 events as at 100.
The words and the order are the core's (reconciler/trace.py). Never writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import BindParameter, Connection, bindparam, func, select

from reconciler import trace as core
from reconciler.errors import NotFound
from storage.audit import refused_change_target
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


# Statements are built once: building SQLAlchemy expressions per lookup costs more than
# running them. `:t` is the tenant, `:v` the value searched.
_T: BindParameter[str] = bindparam("t")
_V: BindParameter[str] = bindparam("v")
_mu, _m, _mg, _wg = mirror_users.c, members.c, mirror_groups.c, workspace_groups.c
_USER_BY = [
    (how, select(_mu.id, _mu.email_ci, _mu.user_name).where(_mu.tenant_id == _T, column == _V))
    for how, column in (
        ("scim_id", _mu.id),
        ("userName", _mu.user_name_ci),
        ("email", _mu.email_ci),
        ("externalId", _mu.external_id),
    )
]
_MEMBER_OF_USER = select(_m.id).where(_m.tenant_id == _T, _m.scim_user_id == _V)
_MEMBER_BY = [
    (how, select(_m.id, _m.email, _m.scim_user_id).where(_m.tenant_id == _T, column == _V))
    for how, column in (("member_id", _m.id), ("email", _m.email_ci))
]
_GROUP_BY = [
    (how, select(_mg.id, _mg.display_name).where(_mg.tenant_id == _T, column == _V))
    for how, column in (
        ("scim_id", _mg.id),
        ("group name", _mg.display_name_ci),
        ("externalId", _mg.external_id),
    )
]
_WS_GROUP_OF = select(_wg.id).where(_wg.tenant_id == _T, _wg.scim_group_id == _V)
_WS_GROUP_BY = [
    (how, select(_wg.id, _wg.name, _wg.scim_group_id).where(_wg.tenant_id == _T, column == _V))
    for how, column in (("group id", _wg.id), ("group name", _wg.name_ci))
]
_CASE_BLIND = {"userName", "email", "group name"}


def find(conn: Connection, tenant_id: str, q: str) -> core.Subject | None:
    """The person or group `q` names: an email, userName, SCIM id, externalId, member id
    or group name (case-insensitive where SCIM says so). People before groups."""
    q = q.strip()
    if not q:
        return None

    def first(how: str, stmt: Any) -> Any:
        return conn.execute(stmt, {"t": tenant_id, "v": q.lower() if how in _CASE_BLIND else q})

    for how, stmt in _USER_BY:
        row = first(how, stmt).first()
        if row is not None:
            member = conn.execute(_MEMBER_OF_USER, {"t": tenant_id, "v": row.id}).first()
            label = row.email_ci or row.user_name
            return core.Subject("person", label, row.id, member.id if member else None, how)
    for how, stmt in _MEMBER_BY:
        m = first(how, stmt).first()
        if m is not None:
            return core.Subject("person", m.email, m.scim_user_id, m.id, how)
    for how, stmt in _GROUP_BY:
        g = first(how, stmt).first()
        if g is not None:
            ws = conn.execute(_WS_GROUP_OF, {"t": tenant_id, "v": g.id}).first()
            return core.Subject("group", g.display_name, g.id, ws.id if ws else None, how)
    for how, stmt in _WS_GROUP_BY:
        w = first(how, stmt).first()
        if w is not None:
            return core.Subject("group", w.name, w.scim_group_id, w.id, how)
    return _find_deleted(conn, tenant_id, q)


_ce = change_events.c
_DELETED = {
    kind: select(_ce.id).where(
        _ce.tenant_id == _T, _ce.resource_type == kind, _ce.resource_id == _V
    )
    for kind in ("User", "Group")
}


def _find_deleted(conn: Connection, tenant_id: str, q: str) -> core.Subject | None:
    """A SCIM id the IdP has since deleted: only its events remain."""
    for kind, stmt in _DELETED.items():
        if conn.execute(stmt, {"t": tenant_id, "v": q}).first() is not None:
            return core.Subject("person" if kind == "User" else "group", q, q, None, "scim_id")
    return None


# --- gathering -------------------------------------------------------------------------


_EVENTS = {
    kind: select(change_events)
    .where(_ce.tenant_id == _T, _ce.resource_type == kind, _ce.resource_id == _V)
    .order_by(_ce.id.desc())
    .limit(MAX_ROWS)
    for kind in ("User", "Group")
}
_tr = trace_refs.c
_GROUP_EVENTS = (
    select(change_events, _tr.change)
    .join(trace_refs, (_tr.event_id == _ce.id) & (_tr.tenant_id == _ce.tenant_id))
    .where(_tr.tenant_id == _T, _tr.subject_id == _V)
    .order_by(_tr.event_id.desc())
    .limit(MAX_ROWS)
)


def _events(conn: Connection, tenant_id: str, kind: str, scim_id: str) -> list[Any]:
    return list(conn.execute(_EVENTS[kind], {"t": tenant_id, "v": scim_id}))


def _group_events(conn: Connection, tenant_id: str, user_id: str) -> list[Any]:
    return list(conn.execute(_GROUP_EVENTS, {"t": tenant_id, "v": user_id}))


_a = audit_log.c
_REQUESTS = select(_a.event_id, _a.actor, _a.detail).where(
    _a.tenant_id == _T, _a.event_id.in_(bindparam("ids", expanding=True))
)
_ACTIONS = (
    select(_a.id, _a.at, _a.actor, _a.action, _a.target, _a.detail)
    .where(_a.tenant_id == _T, _a.target == _V)
    .order_by(_a.id.desc())
    .limit(MAX_ROWS)
)
_d = dead_letters.c
_DEAD = {
    kind: select(_d.event_id, _d.error_code, _d.reason, _d.first_failed_at).where(
        _d.tenant_id == _T, _d.resource_type == kind, _d.resource_id == _V
    )
    for kind in ("User", "Group")
}


def _requests(conn: Connection, tenant_id: str, event_ids: Sequence[int]) -> dict[int, dict]:
    """The ingest audit row of each event: who asked, in which request."""
    found: dict[int, dict[str, Any]] = {}
    for chunk in chunked(event_ids, 500):
        for row in conn.execute(_REQUESTS, {"t": tenant_id, "ids": chunk}):
            detail = row.detail or {}
            request = {k: detail.get(k) for k in INGEST_KEYS} | {"actor": row.actor}
            if request["path"]:  # the tenant is known: /scim/v2/Users/<id> reads better
                request["path"] = request["path"].replace(f"/{tenant_id}", "", 1)
            found[row.event_id] = request
    return found


def _actions(conn: Connection, tenant_id: str, target: str) -> list[core.ActionFact]:
    rows = conn.execute(_ACTIONS, {"t": tenant_id, "v": target})
    return [
        core.ActionFact(r.id, as_utc(r.at), r.actor, r.action, r.target, r.detail or {})
        for r in rows
    ]


def _refused(conn: Connection, tenant_id: str, kind: str, scim_id: str) -> list[core.ActionFact]:
    """Writes to this resource that the ingest refused (events/refusal_trace.py)."""
    return _actions(conn, tenant_id, refused_change_target(kind, scim_id))


def _dead(conn: Connection, tenant_id: str, kind: str, scim_id: str) -> list[core.DeadLetterFact]:
    rows = conn.execute(_DEAD[kind], {"t": tenant_id, "v": scim_id})
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


_IDS: BindParameter[Any] = bindparam("ids", expanding=True)
_GROUP_NAMES = select(_mg.id, _mg.display_name).where(_mg.tenant_id == _T, _mg.id.in_(_IDS))
_WS_NAMES = select(_wg.scim_group_id, _wg.name).where(
    _wg.tenant_id == _T, _wg.scim_group_id.in_(_IDS)
)
_gm = group_memberships.c
_MEMBER = select(_m.status, _m.scim_user_id).where(_m.tenant_id == _T, _m.id == _V)
_MEMBER_GROUPS = (
    select(_wg.name)
    .join(group_memberships, (_gm.tenant_id == _wg.tenant_id) & (_gm.group_id == _wg.id))
    .where(_gm.tenant_id == _T, _gm.member_id == _V)
    .order_by(_wg.name)
)
_GROUP = select(_wg.name, _wg.scim_group_id).where(_wg.tenant_id == _T, _wg.id == _V)
_GROUP_SIZE = select(func.count()).where(_gm.tenant_id == _T, _gm.group_id == _V)


def _group_names(conn: Connection, tenant_id: str, ids: set[str]) -> tuple[dict, dict]:
    """(mirror display names, workspace names) of SCIM groups, by SCIM id."""
    names: dict[str, str] = {}
    ws: dict[str, str] = {}
    for chunk in chunked(sorted(ids), 500):
        names.update(conn.execute(_GROUP_NAMES, {"t": tenant_id, "ids": chunk}).all())
        ws.update(conn.execute(_WS_NAMES, {"t": tenant_id, "ids": chunk}).all())
    return names, ws


def _person_state(conn: Connection, tenant_id: str, member_id: str | None) -> core.CurrentState:
    if member_id is None:
        return core.CurrentState(exists=False)
    key = {"t": tenant_id, "v": member_id}
    row = conn.execute(_MEMBER, key).first()
    if row is None:
        return core.CurrentState(exists=False)
    names = conn.execute(_MEMBER_GROUPS, key).scalars()
    return core.CurrentState(True, row.status, row.scim_user_id is not None, tuple(names))


def _group_state(conn: Connection, tenant_id: str, group_id: str | None) -> core.CurrentState:
    if group_id is None:
        return core.CurrentState(exists=False)
    key = {"t": tenant_id, "v": group_id}
    row = conn.execute(_GROUP, key).first()
    if row is None:
        return core.CurrentState(exists=False)
    count = conn.execute(_GROUP_SIZE, key).scalar_one()
    return core.CurrentState(
        True, None, row.scim_group_id is not None, (str(count),), workspace_name=row.name
    )


_TENANT_IDP = select(tenants.c.idp).where(tenants.c.id == _T)


def gather(conn: Connection, tenant_id: str, subject: core.Subject) -> core.TraceFacts:
    idp = conn.execute(_TENANT_IDP, {"t": tenant_id}).scalar()
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
        actions=(_actions(conn, tenant_id, target) if subject.member_id else [])
        + (_refused(conn, tenant_id, kind, subject.scim_id) if subject.scim_id else []),
        dead_letters=_dead(conn, tenant_id, kind, subject.scim_id) if subject.scim_id else [],
        workspace_groups=ws_names,
    )


def trace(conn: Connection, tenant_id: str, q: str) -> core.Timeline:
    """The timeline of whoever `q` names in the tenant; NotFound when nobody matches."""
    if conn.execute(_TENANT_IDP, {"t": tenant_id}).first() is None:
        raise NotFound(f"tenant {tenant_id} not found")
    subject = find(conn, tenant_id, q)
    if subject is None:
        raise NotFound(f"no member, SCIM user or group of this workspace matches {q!r}")
    return core.build(gather(conn, tenant_id, subject))
