"""The provisioning trace: "what happened to this person (or group)?" as one timeline.

Storage gathers the facts about one subject (storage/trace.py): the IdP's change events
with the request that made each, what the workspace did (audit rows of the worker, the
reconciler and admins), dead letters, and the current state. `build` turns them into
entries in time order, each naming its cause and the §4 rule that decided it, with one
sentence on top explaining the current state. Pure: no I/O, so the CLI, the API and the
dashboard all say the same thing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from reconciler import trace_words as words
from reconciler.errors import InvalidValue
from reconciler.trace_model import (
    ActionFact,
    CurrentState,
    DeadLetterFact,
    EntryKind,
    EventFact,
    Page,
    Subject,
    Timeline,
    TraceEntry,
    TraceFacts,
)

__all__ = [
    "ActionFact",
    "CurrentState",
    "DeadLetterFact",
    "EntryKind",
    "EventFact",
    "Page",
    "Subject",
    "Timeline",
    "TraceEntry",
    "TraceFacts",
    "build",
    "page",
]


DEFAULT_PAGE = 100
MAX_PAGE = 500


def page(timeline: Timeline, cursor: str | None = None, limit: int = DEFAULT_PAGE) -> Page:
    """Entries from `cursor` (an opaque string from the previous page), at most `limit`."""
    start = 0
    if cursor:
        if not cursor.isdigit():
            raise InvalidValue("cursor must be a value returned as next_cursor")
        start = int(cursor)
    limit = max(1, min(limit, MAX_PAGE))
    end = start + limit
    more = end < len(timeline.entries)
    return Page(
        timeline.subject,
        timeline.summary,
        timeline.entries[start:end],
        len(timeline.entries),
        str(end) if more else None,
    )


# Worker actors apply events; these two are the others the audit log knows.
RECONCILER = "reconciler"
WORKER = "worker"
INGEST_REFUSAL = "ingest_refusal"  # events/refusal_trace.py: a write answered 400/409/412
_CASCADE_ACTIONS = {"remove_sso"}


def build(facts: TraceFacts) -> Timeline:
    entries = _event_entries(facts) + _action_entries(facts) + _refusal_entries(facts)
    entries.sort(key=lambda e: (e.at, _KIND_ORDER[e.kind]))
    return Timeline(facts.subject, summarize(facts, entries), entries)


_KIND_ORDER = {
    EntryKind.REQUEST: 0,
    EntryKind.WORKSPACE: 1,
    EntryKind.REFUSED: 2,
    EntryKind.RECONCILE: 3,
    EntryKind.ADMIN: 4,
}


# --- the IdP's requests -------------------------------------------------------------


def _who(facts: TraceFacts, event: EventFact) -> str:
    name = words.idp_name(event.request.get("idp") or facts.idp)
    if event.source == "reconcile":
        return "a reconcile from the IdP's own records"
    return f"{name} (event hook)" if event.source == "webhook" else name


def _event_entries(facts: TraceFacts) -> list[TraceEntry]:
    out: list[TraceEntry] = []
    previous: dict[str, dict[str, str]] = {}  # resource id -> its last version, flattened
    for event in sorted(facts.events, key=lambda e: e.id):
        flat = words.flatten(event.payload)
        out.append(_request_entry(facts, event, flat, previous.get(event.resource_id)))
        if event.operation != "delete":
            previous[event.resource_id] = flat
        joined = _membership_entry(facts, event)
        if joined is not None:
            out.append(joined)
    return out


def _request_entry(
    facts: TraceFacts, event: EventFact, flat: dict[str, str], before: dict[str, str] | None
) -> TraceEntry:
    req = event.request
    status = words.HTTP_STATUS.get(event.operation)
    if req.get("method"):
        what = f"{_who(facts, event)} {req['method']} {req['path']} → {status}"
        if req.get("request_id"):
            what += f" (request {req['request_id']})"
    else:
        what = f"{_who(facts, event)}: {event.operation} {event.resource_type}"
    if event.member_change is not None:
        verb = "added to" if event.member_change == "joined" else "removed from"
        what += f": {verb} group '{event.group_name or event.resource_id}'"
    elif event.operation == "delete":
        what += f": deleted the {event.resource_type.lower()}"
    elif event.resource_type == "User" or event.operation == "create":
        base = None if event.operation == "create" else (before or {})
        changed = words.diff(base, flat)
        if changed:
            what += ": " + "; ".join(changed)
    else:
        added, removed = event.payload.get("members_added"), event.payload.get("members_removed")
        parts = [f"+{added} members" if added else "", f"-{removed} members" if removed else ""]
        renamed = words.diff(before, flat) if before else []
        what += ": " + "; ".join([p for p in parts if p] + renamed or ["no change"])
    refs: dict[str, Any] = {"event_id": event.id, "state": event.state, "status": status}
    refs.update({k: v for k, v in req.items() if k in ("request_id", "method", "path") and v})
    if event.applied_at is not None:
        lag = (event.applied_at - event.received_at).total_seconds()
        refs["applied_at"] = event.applied_at
        refs["lag_seconds"] = round(lag, 3)
        what += f" — applied {_duration(lag)} later"
    elif event.state == "pending":
        what += " — not applied yet"
    return TraceEntry(event.received_at, EntryKind.REQUEST, what, refs=refs)


def _membership_entry(facts: TraceFacts, event: EventFact) -> TraceEntry | None:
    """A group event applied for this member: the workspace group it joined or left."""
    if event.member_change is None or event.applied_at is None or not facts.state.exists:
        return None
    name = facts.workspace_groups.get(event.resource_id) or f"{event.group_name} (SCIM)"
    verb = "joined" if event.member_change == "joined" else "left"
    return TraceEntry(
        event.applied_at,
        EntryKind.WORKSPACE,
        f"{verb} group '{name}'",
        f"{_who(facts, event)} changed the group's members",
        7,
        {"event_id": event.id},
    )


def _duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.0f} min"


# --- what the workspace did -------------------------------------------------------------


def _cause_event(facts: TraceFacts, at: datetime) -> EventFact | None:
    """The latest of the subject's own events received by `at`: what the worker applied."""
    own = [
        e
        for e in facts.events
        if e.member_change is None and e.received_at <= at and e.state != "dead"
    ]
    return max(own, key=lambda e: e.id) if own else None


def _action_entries(facts: TraceFacts) -> list[TraceEntry]:
    out = []
    for action in facts.actions:
        entry = _action_entry(facts, action)
        if entry is not None:
            out.append(entry)
    return out


def _action_entry(facts: TraceFacts, action: ActionFact) -> TraceEntry | None:
    d = action.detail
    if action.action == INGEST_REFUSAL:
        return _ingest_refusal_entry(facts, action)
    kind = {WORKER: EntryKind.WORKSPACE, RECONCILER: EntryKind.RECONCILE}.get(
        action.actor, EntryKind.ADMIN
    )
    described = _describe(action, kind, d)
    if described is None:
        return None
    what, why, rule = described
    if kind is EntryKind.WORKSPACE:
        cause = _cause_event(facts, action.at)
        if cause is not None:
            who = _who(facts, cause)
            said = why.replace("the IdP", who) if why else f"applied {who}'s change"
            why = f"{said} (event {cause.id})"
    elif kind is EntryKind.RECONCILE:
        why = "a full reconcile found the workspace out of step with the IdP" + (
            f"; {why}" if why else ""
        )
    elif kind is EntryKind.ADMIN:
        who = "the CLI" if action.actor == "cli" else f"admin token {action.actor}"
        why = f"by {who}" + (f"; {why}" if why else "")
    if action.action == "refusal":
        kind = EntryKind.REFUSED
    return TraceEntry(action.at, kind, what, why, rule, {"audit_id": action.id})


def _ingest_refusal_entry(facts: TraceFacts, action: ActionFact) -> TraceEntry:
    """The IdP's write that the ingest answered with an error: nothing changed."""
    d = action.detail
    what, why, rule = words.ingest_refusal(facts.idp, d)
    refs = {key: d.get(key) for key in ("request_id", "method", "status")} | {"audit_id": action.id}
    return TraceEntry(action.at, EntryKind.REFUSED, what, why, rule, refs)


def _describe(
    action: ActionFact, kind: EntryKind, d: dict[str, Any]
) -> tuple[str, str | None, int | None] | None:
    """(what, why, rule) of one audit row; None for rows that changed nothing visible."""
    name = action.action
    actor_kind = "cascade" if kind is EntryKind.ADMIN and name == "set_member_status" else "idp"
    if name == "create_member":
        return words.member_created(str(d.get("status")), str(d.get("email", "")))
    if name == "link_member":
        return "linked to the existing member with the same email", "one member per email", 2
    if name == "set_member_status":
        return words.status_change(str(d.get("status")), actor_kind)
    if name == "create_invitation":
        return f"invitation sent to {d.get('email')}", "a pending member needs one", 3
    if name == "update_member_profile":
        return f"profile updated: email {d.get('email')}, name {d.get('display_name')}", None, None
    if name == "sync_user_memberships":
        added, removed = d.get("added", 0), d.get("removed", 0)
        if not (added or removed):
            return None
        return f"SCIM group memberships synced: +{added} -{removed}", None, 7
    if name == "sync_group_members":
        added, removed = d.get("added", 0), d.get("removed", 0)
        return f"group members synced: +{added} -{removed}", None, 7
    if name == "delete_member":
        return "left the workspace (access removed)", "the IdP deleted the user", 5
    if name == "unlink_member":
        return "no longer SCIM-managed", None, 5
    if name == "refusal":
        text, rule = words.refusal_words(str(d.get("code", "")), str(d.get("detail", "")))
        return f"refused: {text}", None, rule
    if name == "create_group":
        return f"appeared in the workspace as '{d.get('name')}'", "IdP groups carry (SCIM)", 7
    if name == "rename_group":
        return f"renamed to '{d.get('name')}'", None, 7
    if name == "delete_group":
        return f"group '{d.get('name')}' deleted", None, 7
    return name.replace("_", " "), None, None  # admin actions: invite member, accept ...


def _refusal_entries(facts: TraceFacts) -> list[TraceEntry]:
    out = []
    for dead in facts.dead_letters:
        text, rule = words.refusal_words(dead.code, dead.reason)
        what = f"refused event {dead.event_id}: {text}; the rest of the workspace is unchanged"
        cause = "a workspace rule forbids it; it waits in the dead letters until replayed"
        refs = {"event_id": dead.event_id, "code": dead.code}
        out.append(TraceEntry(dead.at, EntryKind.REFUSED, what, cause, rule, refs))
    return out


# --- the sentence on top ------------------------------------------------------------------


def _day(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")


def summarize(facts: TraceFacts, entries: list[TraceEntry]) -> str:
    state, subject = facts.state, facts.subject
    own = [e for e in facts.events if e.member_change is None]
    latest = max(own, key=lambda e: e.id) if own else None
    refused = [e for e in entries if e.kind is EntryKind.REFUSED and e.refs.get("code")]
    waiting = [e for e in entries if e.refs.get("state") == "pending"]
    tail = ""
    if refused and latest is not None and latest.state == "dead":  # still the IdP's last word
        tail += f"; the IdP's last change was refused: {refused[-1].what.split(': ', 1)[-1]}"
    if waiting:
        tail += f"; {len(waiting)} change(s) not applied yet"
    if subject.kind == "group":
        if not state.exists:
            return f"Group '{subject.label}' is not in the workspace" + tail + "."
        count = state.groups[0] if state.groups else "0"
        return f"'{state.workspace_name}' has {count} member(s) in the workspace" + tail + "."
    if not state.exists:
        gone = [e for e in entries if e.what.startswith("left the workspace")]
        if gone:
            return f"Not in the workspace since {_day(gone[-1].at)}: {gone[-1].cause}" + tail + "."
        return f"{subject.label} is not a member of the workspace" + tail + "."
    status = state.status or "unknown"
    setting = [
        e
        for e in entries
        if e.kind in (EntryKind.WORKSPACE, EntryKind.RECONCILE, EntryKind.ADMIN)
        and (e.what.startswith(("deactivated", "reactivated", "joined the workspace", "became")))
    ]
    since = f" since {_day(setting[-1].at)}" if setting else ""
    because = f" because {setting[-1].cause}" if setting and setting[-1].cause else ""
    billed = "billed" if status == "active" else "not billed"
    groups = len(state.groups)
    keeps = "keeps" if status == "deactivated" else "in"
    return f"{status.capitalize()}{since}{because}; {billed}; {keeps} {groups} group(s){tail}."
