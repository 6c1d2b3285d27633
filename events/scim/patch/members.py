"""Group member operations as set arithmetic, never as a list of members.

Members live in their own SQL table, so a group PATCH yields the net effect of its member
operations, which the repository applies as one or two set-based statements. Each step is
O(ids in the operation): adding 50,000 members is one set union, not 50,000 list scans.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from events.scim.patch.paths import Target
from events.scim.patch.schema import OpKind
from events.scim.patch.value_filter import member_ids
from events.scim.patch.values import normalise
from reconciler.errors import InvalidPath, InvalidValue


@dataclass(frozen=True)
class GroupPatch:
    """A patched group and the net change to its member set.

    At most one of three shapes, so the storage layer needs no ordering logic:
    - relative: `add_members` / `remove_members` (disjoint) applied to the current set;
    - `replace_members`: the set becomes exactly this (non-empty) set;
    - `remove_all_members`: the set becomes empty.
    `apply_to` states the contract in code.
    """

    resource: dict[str, Any]
    add_members: frozenset[str] = frozenset()
    remove_members: frozenset[str] = frozenset()
    replace_members: frozenset[str] | None = None
    remove_all_members: bool = False

    def apply_to(self, current: Iterable[str]) -> frozenset[str]:
        if self.remove_all_members:
            base: frozenset[str] = frozenset()
        elif self.replace_members is not None:
            base = self.replace_members
        else:
            base = frozenset(current)
        return (base - self.remove_members) | self.add_members

    @property
    def changes_members(self) -> bool:
        relative = bool(self.add_members or self.remove_members)
        return relative or self.remove_all_members or self.replace_members is not None


class MemberLedger:
    """Folds member operations in order. Until a replace or remove-all the current set is
    unknown, so we keep pending adds and removes; afterwards the set itself is known."""

    def __init__(self) -> None:
        self._known: set[str] | None = None
        self._adds: set[str] = set()
        self._removes: set[str] = set()

    def add(self, ids: Iterable[str]) -> None:
        if self._known is not None:
            self._known.update(ids)
            return
        ids = set(ids)
        self._adds |= ids
        self._removes -= ids

    def remove(self, ids: Iterable[str]) -> None:
        if self._known is not None:
            self._known.difference_update(ids)
            return
        ids = set(ids)
        self._removes |= ids
        self._adds -= ids

    def replace(self, ids: Iterable[str]) -> None:
        self._known = set(ids)
        self._adds.clear()
        self._removes.clear()

    def result(self, resource: dict[str, Any]) -> GroupPatch:
        if self._known is None:
            return GroupPatch(resource, frozenset(self._adds), frozenset(self._removes))
        if not self._known:
            return GroupPatch(resource, remove_all_members=True)
        return GroupPatch(resource, replace_members=frozenset(self._known))


def _ids(target: Target, value: Any) -> list[str]:
    assert target.attribute is not None
    ids = []
    for member in normalise(target.attribute, value):
        member_id = member.get("value")
        if not isinstance(member_id, str) or not member_id:
            raise InvalidValue(f"each member needs a non-empty string value, got {member!r}")
        ids.append(member_id)
    return ids


def apply_member_op(ledger: MemberLedger, op: OpKind, target: Target, value: Any) -> None:
    """`op` is add, remove or replace; a null value (or none, for remove) means "all"."""
    if target.sub_attribute is not None:
        raise InvalidPath(f"{target.text!r}: only whole members can be patched")
    if target.value_filter is not None:
        if op is not OpKind.REMOVE:
            raise InvalidPath(f"{target.text!r}: a member filter is only allowed in remove")
        ledger.remove(member_ids(target.value_filter))
    elif value is None:
        ledger.replace(())
    elif op is OpKind.ADD:
        ledger.add(_ids(target, value))
    elif op is OpKind.REMOVE:
        ledger.remove(_ids(target, value))
    else:
        ledger.replace(_ids(target, value))
