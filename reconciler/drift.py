"""The drift report, item by item: what one planned key changes, in words an operator reads.

The full run (and a source's mirror repair) turns the planner's actions for a key into
`DriftItem`s: the kind of change, the SCIM id and userName/displayName, the before and
after of what changes, and the workspace consequence under the rules of
docs/architecture.md section 4 ("becomes Deactivated, not billed, keeps its 3 groups").
Items never carry workspace ids the run has yet to generate, so a dry run and the real
run that follows it describe the same items.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from reconciler.model import (
    Action,
    CreateGroup,
    CreateMember,
    DeleteGroup,
    DeleteMember,
    GroupSnapshot,
    LinkMember,
    MemberStatus,
    RecordRefusal,
    RenameGroup,
    RuleViolation,
    SetMemberStatus,
    UnlinkMember,
    UpdateMemberProfile,
    UserSnapshot,
)

ResourceType = Literal["User", "Group"]


class ItemKind(StrEnum):
    USER_CREATED = "user_created"
    USER_REMOVED = "user_removed"
    USER_DEACTIVATED = "user_deactivated"
    USER_REACTIVATED = "user_reactivated"
    USER_CHANGED = "user_changed"
    GROUP_CREATED = "group_created"
    GROUP_RENAMED = "group_renamed"
    GROUP_DELETED = "group_deleted"
    MEMBERSHIP_ADDED = "membership_added"
    MEMBERSHIP_REMOVED = "membership_removed"
    MIRROR_REPAIRED = "mirror_repaired"
    REFUSED = "refused"  # a rule stops the key (email conflict, the Owner protected)


# What the safety valve counts and a halted run lists.
DESTRUCTIVE = frozenset({ItemKind.USER_REMOVED, ItemKind.USER_DEACTIVATED})


@dataclass(frozen=True)
class DriftItem:
    kind: ItemKind
    resource_type: ResourceType
    scim_id: str
    name: str | None  # userName / email of a user, displayName / name of a group
    consequence: str
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)
    # A member removed or switched off (what the safety valve counts); a source's mirror
    # repair marks its deletions and deactivations so too.
    destructive: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "resource_type": self.resource_type,
            "scim_id": self.scim_id,
            "name": self.name,
            "before": self.before,
            "after": self.after,
            "consequence": self.consequence,
            "destructive": self.destructive,
        }


@dataclass(frozen=True)
class MembershipChange:
    """One SCIM membership the run adds or removes, named for the operator."""

    group_scim_id: str
    group_name: str
    member_scim_id: str
    member_email: str
    added: bool


def _groups(n: int | None) -> str:
    if n is None:
        return "its groups"
    return f"its {n} group" + ("" if n == 1 else "s")


def status_consequence(status: MemberStatus, groups: int | None = None) -> str:
    """What a status means in the workspace (rules 3, 4 and 8)."""
    if status is MemberStatus.ACTIVE:
        return "Active: can log in, billed"
    if status is MemberStatus.PENDING:
        return "Pending: external user, invitation sent, not billed until accepted"
    return f"Deactivated: cannot log in, not billed, keeps {_groups(groups)} and permissions"


def _user_name(snap: UserSnapshot) -> str | None:
    if snap.desired is not None:
        return snap.desired.email or snap.desired.email_ci
    return snap.linked.email if snap.linked else None


def user_items(
    snap: UserSnapshot, actions: Sequence[Action], groups: Mapping[str, int] | None = None
) -> list[DriftItem]:
    """The items of one user's plan. `groups`: member id -> its group count, for the
    consequence of a deactivation or removal (absent: "its groups")."""
    groups = groups or {}
    name = _user_name(snap)
    member = snap.linked or snap.email_holder
    items: list[DriftItem] = []
    changed_before: dict[str, Any] = {}
    changed_after: dict[str, Any] = {}
    notes: list[str] = []

    def item(
        kind: ItemKind, consequence: str, before: dict[str, Any], after: dict[str, Any]
    ) -> None:
        destructive = kind in DESTRUCTIVE
        items.append(
            DriftItem(kind, "User", snap.scim_id, name, consequence, before, after, destructive)
        )

    for action in actions:
        if isinstance(action, CreateMember):
            after = {"email": action.email, "status": action.status.value}
            if action.display_name:
                after["display_name"] = action.display_name
            item(ItemKind.USER_CREATED, "joins as " + status_consequence(action.status), {}, after)
        elif isinstance(action, DeleteMember):
            before = {"email": action.email, "status": member.status.value if member else None}
            n = groups.get(action.member_id)
            item(
                ItemKind.USER_REMOVED,
                f"leaves the workspace: loses access and {_groups(n)}, no longer billed",
                before,
                {},
            )
        elif isinstance(action, SetMemberStatus):
            was = member.status if member else None
            before = {"status": was.value if was else None}
            after = {"status": action.status.value}
            n = groups.get(action.member_id)
            if action.status is MemberStatus.DEACTIVATED:
                consequence = "becomes " + status_consequence(action.status, n)
                item(ItemKind.USER_DEACTIVATED, consequence, before, after)
            elif was is MemberStatus.DEACTIVATED:
                consequence = "back to " + status_consequence(action.status) + ", groups intact"
                item(ItemKind.USER_REACTIVATED, consequence, before, after)
            else:
                changed_before.update(before)
                changed_after.update(after)
                notes.append("becomes " + status_consequence(action.status))
        elif isinstance(action, UpdateMemberProfile) and member is not None:
            for key, old, new in (
                ("email", member.email, action.email),
                ("display_name", member.display_name, action.display_name),
                ("has_password", member.has_password, action.has_password),
            ):
                if old != new:
                    changed_before[key], changed_after[key] = old, new
            notes.append("profile updated")
        elif isinstance(action, LinkMember) and member is not None:
            changed_before["scim_managed"], changed_after["scim_managed"] = False, True
            notes.append(f"existing member {member.email} becomes SCIM-managed (linked)")
        elif isinstance(action, UnlinkMember):
            changed_before["scim_managed"], changed_after["scim_managed"] = True, False
            notes.append("no longer SCIM-managed")
        elif isinstance(action, RecordRefusal):
            item(ItemKind.REFUSED, f"{action.code}: {action.detail}", {}, {"code": action.code})
    if notes:
        item(ItemKind.USER_CHANGED, "; ".join(notes), changed_before, changed_after)
    return items


def group_items(snap: GroupSnapshot, actions: Sequence[Action]) -> list[DriftItem]:
    desired, actual = snap.desired, snap.actual
    name = desired.display_name if desired else (actual.name if actual else None)
    items: list[DriftItem] = []
    for action in actions:
        if isinstance(action, CreateGroup):
            consequence = f"group '{action.name}' appears, SCIM-managed"
            after = {"name": action.name}
            kind = ItemKind.GROUP_CREATED
            items.append(DriftItem(kind, "Group", snap.scim_id, name, consequence, {}, after))
        elif isinstance(action, RenameGroup):
            before = {"name": actual.name if actual else None}
            consequence = f"group renamed to '{action.name}'"
            items.append(
                DriftItem(
                    ItemKind.GROUP_RENAMED,
                    "Group",
                    snap.scim_id,
                    name,
                    consequence,
                    before,
                    {"name": action.name},
                )
            )
        elif isinstance(action, DeleteGroup):
            consequence = (
                f"group '{action.name}' is deleted: its members lose the permissions it grants"
            )
            items.append(
                DriftItem(
                    ItemKind.GROUP_DELETED,
                    "Group",
                    snap.scim_id,
                    name,
                    consequence,
                    {"name": action.name},
                    {},
                )
            )
    return items


def membership_item(change: MembershipChange) -> DriftItem:
    pair = {"group": change.group_name, "member": change.member_email}
    if change.added:
        consequence = f"{change.member_email} joins '{change.group_name}' and gains its permissions"
        return DriftItem(
            ItemKind.MEMBERSHIP_ADDED,
            "Group",
            change.group_scim_id,
            change.group_name,
            consequence,
            {},
            pair | {"member_scim_id": change.member_scim_id},
        )
    consequence = f"{change.member_email} leaves '{change.group_name}' and loses its permissions"
    return DriftItem(
        ItemKind.MEMBERSHIP_REMOVED,
        "Group",
        change.group_scim_id,
        change.group_name,
        consequence,
        pair | {"member_scim_id": change.member_scim_id},
        {},
    )


def refused_item(
    resource_type: ResourceType, scim_id: str, name: str | None, refused: RuleViolation
) -> DriftItem:
    consequence = f"{refused.code}: {refused}"
    after = {"code": refused.code}
    return DriftItem(ItemKind.REFUSED, resource_type, scim_id, name, consequence, {}, after)
