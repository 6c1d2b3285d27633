"""The provisioning trace's vocabulary: the facts storage gathers about one subject, and
the timeline entries and pages the core (reconciler/trace.py) builds from them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class EntryKind(StrEnum):
    REQUEST = "request"  # the IdP asked for a change (a SCIM request or a webhook event)
    WORKSPACE = "workspace"  # what the worker did in the workspace
    REFUSED = "refused"  # a rule refused the change: dead letter or refusal
    RECONCILE = "reconcile"  # a full reconcile repaired drift
    ADMIN = "admin"  # an admin or the CLI


@dataclass(frozen=True)
class EventFact:
    """A change event, with the request that made it (empty for older rows)."""

    id: int
    resource_type: str  # User | Group
    resource_id: str
    operation: str  # create | replace | patch | delete
    source: str  # scim | webhook | reconcile
    payload: dict[str, Any]
    received_at: datetime
    applied_at: datetime | None
    state: str  # pending | applied | dead
    request: dict[str, Any] = field(default_factory=dict)  # request_id method path idp actor
    group_name: str | None = None  # a group event seen from a member: the group
    member_change: str | None = None  # ... and "joined" or "left"


@dataclass(frozen=True)
class ActionFact:
    """An audit row that is not an ingest copy: the worker, the reconciler, an admin."""

    id: int
    at: datetime
    actor: str
    action: str
    target: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class DeadLetterFact:
    event_id: int
    code: str
    reason: str
    at: datetime


@dataclass(frozen=True)
class Subject:
    """Who the trace is about, as found by the search."""

    kind: str  # person | group
    label: str  # the email or the group name
    scim_id: str | None = None
    member_id: str | None = None  # or the workspace group's id
    matched_by: str = ""  # email | userName | scim_id | externalId | member_id | group name


@dataclass(frozen=True)
class CurrentState:
    """The workspace now: a member's status (or a group's size) and its groups."""

    exists: bool
    status: str | None = None  # active | pending | deactivated (members)
    scim_managed: bool = False
    groups: tuple[str, ...] = ()  # group names (members) or member count as ("N",)
    workspace_name: str | None = None  # a group's workspace name, "Sales (SCIM)"


@dataclass(frozen=True)
class TraceFacts:
    subject: Subject
    state: CurrentState
    idp: str
    events: list[EventFact]
    actions: list[ActionFact]
    dead_letters: list[DeadLetterFact]
    workspace_groups: dict[str, str] = field(default_factory=dict)  # scim group id -> name


@dataclass(frozen=True)
class TraceEntry:
    at: datetime
    kind: EntryKind
    what: str
    cause: str | None = None
    rule: int | None = None  # the §4 rule that decided it
    refs: dict[str, Any] = field(default_factory=dict)  # request/event ids, lag, status


@dataclass(frozen=True)
class Timeline:
    subject: Subject
    summary: str
    entries: list[TraceEntry]


@dataclass(frozen=True)
class Page:
    """A slice of a timeline, oldest first; `next_cursor` continues it (None: the end)."""

    subject: Subject
    summary: str
    entries: list[TraceEntry]
    total: int
    next_cursor: str | None
