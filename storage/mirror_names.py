"""The names people read for mirrored resources: a user's userName, a group's displayName.

For log lines and pages (a dead letter, the dashboard's events) that would otherwise show
only a SCIM id. A resource deleted since has no name here: the caller shows its id.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, select

from storage.schema import mirror_groups, mirror_users
from storage.sql import chunked


def resource_names(
    conn: Connection, tenant_id: str, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """userName of each ("User", id) and displayName of each ("Group", id) still mirrored,
    for log lines people read (a deleted resource has none)."""
    wanted = list(keys)
    names: dict[tuple[str, str], str] = {}
    for kind, table, column in (
        ("User", mirror_users, mirror_users.c.user_name),
        ("Group", mirror_groups, mirror_groups.c.display_name),
    ):
        ids = [resource_id for k, resource_id in wanted if k == kind]
        for chunk in chunked(ids, 500):
            rows = conn.execute(
                select(table.c.id, column).where(
                    table.c.tenant_id == tenant_id, table.c.id.in_(chunk)
                )
            ).tuples()
            names.update({(kind, resource_id): name for resource_id, name in rows})
    return names
