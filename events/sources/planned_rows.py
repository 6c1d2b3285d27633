"""The planned mirror's rows (storage/planned_mirror.py) of a batch's operations: what
each write of a source run would leave in the mirror, in the mirror's own columns
(storage/projection.py), so the workspace pass plans against it as it would against
the written mirror."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from storage.projection import group_columns, user_columns

Rows = list[dict[str, Any]]


@dataclass
class PlannedRows:
    users: Rows = field(default_factory=list)
    groups: Rows = field(default_factory=list)
    lists: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)  # group, members

    def members(self, tenant_id: str) -> Iterator[dict[str, Any]]:
        """The groups' member rows, made as they are stored (a batch of 500 groups of an
        export can name 125,000 members: never a list of them all)."""
        for group_id, ids in self.lists:
            for member in dict.fromkeys(ids):
                yield {"tenant_id": tenant_id, "group_id": group_id, "member_id": member} | {
                    "member_type": "User"
                }


def planned_rows(tenant_id: str, ops: Sequence[tuple[str, Any, Any]]) -> PlannedRows:
    """`ops` as events/sources/mirror_repair.py's `compare` and `gone_ops` give them."""
    planned = PlannedRows()
    for name, what, _ in ops:
        if name in ("delete_user", "delete_group"):
            resource_id, label = what
            row = {"tenant_id": tenant_id, "id": resource_id, "gone": True, "version": 0}
            if name == "delete_user":
                planned.users.append(row | _gone_user(str(label)))
            else:
                planned.groups.append(row | {"display_name": label, "display_name_ci": label})
            continue
        resource_id, version = (
            (what.have[0], what.have[2] + 1) if what.have else (what.planned_id, 1)
        )
        row = {"tenant_id": tenant_id, "id": resource_id, "gone": False, "version": version}
        if name in ("create_user", "update_user"):
            columns = user_columns(what.resource)
            columns.pop("external_id")
            columns["has_password"] = bool(what.parsed and what.parsed.password_set)
            planned.users.append(row | columns)
        else:
            columns = group_columns(what.resource)
            columns.pop("external_id")
            planned.groups.append(row | columns)
            planned.lists.append((resource_id, what.ours))
    return planned


def _gone_user(user_name: str) -> dict[str, Any]:
    return {
        "user_name": user_name,
        "user_name_ci": user_name.lower(),
        "display_name": None,
        "given_name": None,
        "family_name": None,
        "formatted_name": None,
        "email_ci": None,
        "active": False,
        "has_password": False,
    }
