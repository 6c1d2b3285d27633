"""One tenant's state read straight from SQL: the IdP mirror, the workspace, the pipeline.

The tests read the tables themselves (not the service's repositories) so that
a bug in the code under test cannot hide itself from the check.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, func, select

from storage.event_state import EventState
from storage.schema import (
    applied_versions,
    change_events,
    dead_letters,
    group_memberships,
    members,
    mirror_group_members,
    mirror_groups,
    mirror_users,
    workspace_groups,
)


@dataclass(frozen=True)
class MirrorUser:
    id: str
    user_name: str
    external_id: str | None
    email_ci: str | None
    active: bool
    display_name: str | None
    version: int


@dataclass(frozen=True)
class MirrorGroup:
    id: str
    external_id: str | None
    display_name: str
    version: int
    member_ids: frozenset[str]  # mirror user (or group) ids


@dataclass(frozen=True)
class Member:
    id: str
    email_ci: str
    status: str
    display_name: str | None
    scim_user_id: str | None
    role: str


@dataclass(frozen=True)
class WorkspaceGroup:
    id: str
    name: str
    scim_group_id: str | None
    scim_member_ids: frozenset[str]  # workspace member ids, source scim
    native_member_ids: frozenset[str]


@dataclass
class State:
    users: dict[str, MirrorUser] = field(default_factory=dict)
    groups: dict[str, MirrorGroup] = field(default_factory=dict)
    members: dict[str, Member] = field(default_factory=dict)
    workspace_groups: dict[str, WorkspaceGroup] = field(default_factory=dict)
    applied_versions: dict[tuple[str, str], int] = field(default_factory=dict)
    events_by_state: dict[str, int] = field(default_factory=dict)
    dead_letters: list[dict[str, Any]] = field(default_factory=list)

    def members_linked_to(self, scim_user_id: str) -> list[Member]:
        return [m for m in self.members.values() if m.scim_user_id == scim_user_id]

    def groups_linked_to(self, scim_group_id: str) -> list[WorkspaceGroup]:
        return [g for g in self.workspace_groups.values() if g.scim_group_id == scim_group_id]

    def users_by_external_id(self) -> dict[str, MirrorUser]:
        return {u.external_id: u for u in self.users.values() if u.external_id}

    def groups_by_external_id(self) -> dict[str, list[MirrorGroup]]:
        found: dict[str, list[MirrorGroup]] = defaultdict(list)
        for group in self.groups.values():
            if group.external_id:
                found[group.external_id].append(group)
        return found

    @property
    def pending_events(self) -> int:
        return self.events_by_state.get(EventState.PENDING, 0)


def load_state(engine: Engine, tenant_id: str) -> State:
    """Everything in one read transaction, so the views agree with each other."""
    state = State()
    with engine.connect() as conn, conn.begin():
        for r in conn.execute(select(mirror_users).where(mirror_users.c.tenant_id == tenant_id)):
            state.users[r.id] = MirrorUser(
                r.id,
                r.user_name,
                r.external_id,
                r.email_ci,
                bool(r.active),
                r.display_name,
                r.version,
            )
        mirror_members: dict[str, set[str]] = defaultdict(set)
        for r in conn.execute(
            select(mirror_group_members.c.group_id, mirror_group_members.c.member_id).where(
                mirror_group_members.c.tenant_id == tenant_id
            )
        ):
            mirror_members[r.group_id].add(r.member_id)
        for r in conn.execute(select(mirror_groups).where(mirror_groups.c.tenant_id == tenant_id)):
            state.groups[r.id] = MirrorGroup(
                r.id, r.external_id, r.display_name, r.version, frozenset(mirror_members[r.id])
            )
        for r in conn.execute(select(members).where(members.c.tenant_id == tenant_id)):
            state.members[r.id] = Member(
                r.id, r.email_ci, r.status, r.display_name, r.scim_user_id, r.role
            )
        by_source: dict[tuple[str, str], set[str]] = defaultdict(set)
        for r in conn.execute(
            select(
                group_memberships.c.group_id,
                group_memberships.c.member_id,
                group_memberships.c.source,
            ).where(group_memberships.c.tenant_id == tenant_id)
        ):
            by_source[(r.group_id, r.source)].add(r.member_id)
        for r in conn.execute(
            select(workspace_groups).where(workspace_groups.c.tenant_id == tenant_id)
        ):
            state.workspace_groups[r.id] = WorkspaceGroup(
                r.id,
                r.name,
                r.scim_group_id,
                frozenset(by_source[(r.id, "scim")]),
                frozenset(by_source[(r.id, "native")]),
            )
        for r in conn.execute(
            select(applied_versions).where(applied_versions.c.tenant_id == tenant_id)
        ):
            state.applied_versions[(r.resource_type, r.resource_id)] = r.version
        for r in conn.execute(
            select(change_events.c.state, func.count())
            .where(change_events.c.tenant_id == tenant_id)
            .group_by(change_events.c.state)
        ):
            state.events_by_state[r[0]] = int(r[1])
        state.dead_letters = [
            dict(r._mapping)
            for r in conn.execute(select(dead_letters).where(dead_letters.c.tenant_id == tenant_id))
        ]
    return state
