"""Where the workspace's loads read the mirror: its tables, or a reconcile run's planned
mirror (storage/planned_mirror.py), which has the same columns. The loads never know
which: a dry run from a source plans against the mirror as the source would leave it
with the very queries that plan against the mirror itself."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import FromClause

from storage.schema import mirror_group_members, mirror_groups, mirror_users


@dataclass(frozen=True)
class MirrorTables:
    users: FromClause = mirror_users
    groups: FromClause = mirror_groups
    group_members: FromClause = mirror_group_members
    # Where a full run lists the ids of `users` and `groups` (each with `id` and
    # `tenant_id` columns, read in index order): a planned mirror is a union, which a
    # database cannot read in key order, so its keys come from the tables beneath it.
    user_keys: tuple[FromClause, ...] = (mirror_users,)
    group_keys: tuple[FromClause, ...] = (mirror_groups,)


MIRROR = MirrorTables()
