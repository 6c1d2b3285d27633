"""What the workspace must look like given the mirror, whatever the history was.

An independent statement of docs/architecture.md §4 for the resources the fault
tests use (no Owner, no passwords, no admin changes): every mirror user has
exactly one linked member with its email, display name and the status rules
3 and 4 give; every SCIM group has exactly one workspace group named after it
whose SCIM memberships are its mirror members; nothing is linked to a resource
the mirror no longer has; the workspace reflects the mirror's latest versions.
"""

from __future__ import annotations

import re

from storage.event_state import EventState
from tests.chaos.state import MirrorUser, State


def is_scim_name(name: object, display_name: object) -> bool:
    """A SCIM group appears as "<displayName> (SCIM)", or "<displayName> (SCIM n)" when taken."""
    pattern = re.escape(str(display_name)) + r" \(SCIM(?: [0-9]+)?\)"
    return isinstance(name, str) and re.fullmatch(pattern, name) is not None


def expected_status(user: MirrorUser, sso_domains: set[str]) -> str:
    if not user.active:
        return "deactivated"
    domain = (user.email_ci or "").rpartition("@")[2]
    return "active" if domain in sso_domains else "pending"


def _user_drift(state: State, sso_domains: set[str]) -> list[str]:
    problems = []
    for user in state.users.values():
        linked = state.members_linked_to(user.id)
        if len(linked) != 1:
            problems.append(f"user {user.external_id}: {len(linked)} linked members")
            continue
        member = linked[0]
        want = (user.email_ci, expected_status(user, sso_domains), user.display_name)
        have = (member.email_ci, member.status, member.display_name)
        if have != want:
            problems.append(
                f"user {user.external_id}: member has (email, status, name) "
                f"{have}, the mirror says {want}"
            )
    for member in state.members.values():
        if member.scim_user_id is not None and member.scim_user_id not in state.users:
            problems.append(f"member {member.email_ci} is linked to a user the IdP deleted")
    return problems


def _group_drift(state: State) -> list[str]:
    problems = []
    member_of_user = {m.scim_user_id: m.id for m in state.members.values() if m.scim_user_id}
    for group in state.groups.values():
        linked = state.groups_linked_to(group.id)
        if len(linked) != 1:
            problems.append(f"group {group.external_id}: {len(linked)} workspace groups")
            continue
        actual = linked[0]
        if not is_scim_name(actual.name, group.display_name):
            problems.append(
                f"group {group.external_id}: named {actual.name!r}, "
                f"the mirror says {group.display_name!r}"
            )
        want = {member_of_user[u] for u in group.member_ids if u in member_of_user}
        if actual.scim_member_ids != want:
            problems.append(
                f"group {group.external_id}: missing "
                f"{len(want - actual.scim_member_ids)} members, extra "
                f"{len(actual.scim_member_ids - want)}"
            )
    for actual in state.workspace_groups.values():
        if actual.scim_group_id is not None and actual.scim_group_id not in state.groups:
            problems.append(f"workspace group {actual.name!r} belongs to a deleted SCIM group")
    return problems


def _version_drift(state: State) -> list[str]:
    want = {("User", u.id): u.version for u in state.users.values()}
    want |= {("Group", g.id): g.version for g in state.groups.values()}
    problems = [
        f"{key[0]} {key[1]}: applied version {state.applied_versions.get(key)}, "
        f"mirror version {version}"
        for key, version in want.items()
        if state.applied_versions.get(key) != version
    ]
    problems += [
        f"{key[0]} {key[1]}: applied version recorded for a deleted resource"
        for key in state.applied_versions
        if key not in want
    ]
    return problems


def drift(state: State, sso_domains: set[str]) -> list[str]:
    return [*_user_drift(state, sso_domains), *_group_drift(state), *_version_drift(state)]


def pipeline_problems(state: State) -> list[str]:
    problems = [
        f"{count} {name} events"
        for name, count in state.events_by_state.items()
        if name != EventState.APPLIED and count
    ]
    problems += [
        f"dead letter: {d['resource_type']} {d['resource_id']} {d['error_code']} "
        f"{d['reason'][:200]}"
        for d in state.dead_letters[:20]
    ]
    return problems
