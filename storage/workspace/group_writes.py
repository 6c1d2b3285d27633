"""Set-based writes of group actions and SCIM membership syncs: a 50,000-member group is
synced with two statements (`INSERT ... SELECT ... WHERE NOT EXISTS`, `DELETE ... WHERE
NOT EXISTS`); a batch of users reads its own few pairs and writes the difference in bulk."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import (
    Connection,
    bindparam,
    delete,
    insert,
    literal,
    select,
    tuple_,
    update,
)

from reconciler.model import (
    CreateGroup,
    DeleteGroup,
    RecordRefusal,
    RenameGroup,
    SyncGroupMembers,
    SyncUserMemberships,
    UnlinkGroup,
)
from storage.bulk import insert_rows
from storage.schema import (
    Id,
    Timestamp,
    group_memberships,
    group_permissions,
    members,
    mirror_group_members,
    workspace_groups,
)
from storage.sql import one_of
from storage.workspace.membership_sql import (
    MIRROR_TO_GROUP,
    extra_in_groups,
    missing_in_groups,
)
from storage.workspace.rows import (
    Effective,
    Pair,
    chunks,
)

_wg, _mgm, _m, _gm = workspace_groups, mirror_group_members, members, group_memberships


class GroupWrites:
    conn: Connection

    def _user_pairs(
        self, tenant_id: str, scim_of: dict[str, str | None]
    ) -> tuple[set[Pair], set[Pair], set[Pair]]:
        """(desired, existing, existing SCIM) pairs of these members ({member id: scim id})."""
        member_of = {scim_id: member_id for member_id, scim_id in scim_of.items() if scim_id}
        desired: set[Pair] = set()
        for chunk in chunks(list(member_of)):
            rows = self.conn.execute(
                select(_mgm.c.member_id, _wg.c.id)
                .select_from(_mgm.join(_wg, MIRROR_TO_GROUP))
                .where(
                    _mgm.c.tenant_id == tenant_id,
                    one_of(self.conn, _mgm.c.member_id, chunk),
                    _mgm.c.member_type == "User",
                )
            )
            desired |= {(group_id, member_of[scim_id]) for scim_id, group_id in rows}
        existing: set[Pair] = set()
        scim: set[Pair] = set()
        for chunk in chunks(list(scim_of)):
            held = self.conn.execute(
                select(_gm.c.group_id, _gm.c.member_id, _gm.c.source).where(
                    _gm.c.tenant_id == tenant_id, one_of(self.conn, _gm.c.member_id, chunk)
                )
            )
            for group_id, member_id, source in held:
                existing.add((group_id, member_id))
                if source == "scim":
                    scim.add((group_id, member_id))
        return desired, existing, scim

    # --- applies ------------------------------------------------------------------------

    def _delete_groups(self, t: str, batch: list[DeleteGroup], now: datetime) -> Effective:
        for chunk in chunks([a.group_id for a in batch]):
            for table in (group_memberships, group_permissions):
                self.conn.execute(
                    delete(table).where(table.c.tenant_id == t, table.c.group_id.in_(chunk))
                )
            self.conn.execute(delete(_wg).where(_wg.c.tenant_id == t, _wg.c.id.in_(chunk)))
        return [(a, {}) for a in batch]

    def _create_groups(self, t: str, batch: list[CreateGroup], now: datetime) -> Effective:
        insert_rows(
            self.conn,
            _wg,
            [
                {
                    "tenant_id": t,
                    "id": a.group_id,
                    "name": a.name,
                    "name_ci": a.name.lower(),
                    "scim_group_id": a.scim_group_id,
                    "created_at": now,
                }
                for a in batch
            ],
        )
        return [(a, {}) for a in batch]

    def _rename_groups(self, t: str, batch: list[RenameGroup], now: datetime) -> Effective:
        stmt = update(_wg).where(_wg.c.tenant_id == t, _wg.c.id == bindparam("b_id"))
        self.conn.execute(
            stmt.values(name=bindparam("b_name"), name_ci=bindparam("b_name_ci")),
            [{"b_id": a.group_id, "b_name": a.name, "b_name_ci": a.name.lower()} for a in batch],
        )
        return [(a, {}) for a in batch]

    def _unlink_groups(self, t: str, batch: list[UnlinkGroup], now: datetime) -> Effective:
        ids = [a.group_id for a in batch]
        stmt = update(_wg).where(_wg.c.tenant_id == t, _wg.c.id == bindparam("b_id"))
        self.conn.execute(
            stmt.values(
                name=bindparam("b_name"), name_ci=bindparam("b_name_ci"), scim_group_id=None
            ),
            [{"b_id": a.group_id, "b_name": a.name, "b_name_ci": a.name.lower()} for a in batch],
        )
        for chunk in chunks(ids):
            self.conn.execute(
                update(group_memberships)
                .where(group_memberships.c.tenant_id == t, group_memberships.c.group_id.in_(chunk))
                .values(source="native")
            )
        return [(a, {}) for a in batch]

    def _sync_users(self, t: str, batch: list[SyncUserMemberships], now: datetime) -> Effective:
        """Read the batch's pairs, insert the missing, delete the extra SCIM ones."""
        by_id = {a.member_id: a for a in batch}
        scim_of: dict[str, str | None] = {}
        for chunk in chunks(list(by_id)):
            scim_of.update(
                self.conn.execute(
                    select(_m.c.id, _m.c.scim_user_id).where(
                        _m.c.tenant_id == t, one_of(self.conn, _m.c.id, chunk)
                    )
                )
                .tuples()
                .all()
            )
        desired, existing, scim = self._user_pairs(t, scim_of)
        missing, extra = sorted(desired - existing), sorted(scim - desired)
        for pairs in chunks(extra):
            self.conn.execute(
                delete(_gm).where(
                    _gm.c.tenant_id == t, tuple_(_gm.c.group_id, _gm.c.member_id).in_(pairs)
                )
            )
        if missing:
            insert_rows(
                self.conn,
                _gm,
                [
                    {
                        "tenant_id": t,
                        "group_id": group_id,
                        "member_id": member_id,
                        "source": "scim",
                        "created_at": now,
                    }
                    for group_id, member_id in missing
                ],
            )
        added = Counter(member_id for _, member_id in missing)
        removed = Counter(member_id for _, member_id in extra)
        return [
            (action, {"added": added[i], "removed": removed[i]})
            for i, action in by_id.items()
            if added[i] or removed[i]
        ]

    def _sync_groups(self, t: str, batch: list[SyncGroupMembers], now: datetime) -> Effective:
        """Set-based: one DELETE of the extra SCIM memberships, one INSERT ... SELECT."""
        by_id = {a.group_id: a for a in batch}
        added: Counter[str] = Counter()
        removed: Counter[str] = Counter()
        for ids in chunks(list(by_id)):
            gone = self.conn.execute(
                delete(_gm).where(extra_in_groups(t, ids)).returning(_gm.c.group_id)
            )
            removed.update(gone.scalars())
            missing = missing_in_groups(t, ids).subquery()
            rows = select(
                literal(t, Id),
                missing.c.group_id,
                missing.c.member_id,
                literal("scim", _gm.c.source.type),
                literal(now, Timestamp),
            )
            cols = ["tenant_id", "group_id", "member_id", "source", "created_at"]
            new = self.conn.execute(insert(_gm).from_select(cols, rows).returning(_gm.c.group_id))
            added.update(new.scalars())
        return [
            (action, {"added": added[i], "removed": removed[i]})
            for i, action in by_id.items()
            if added[i] or removed[i]
        ]

    def _refusals(self, t: str, batch: list[RecordRefusal], now: datetime) -> Effective:
        return [(a, {}) for a in batch]  # nothing changes; the audit row is the record

    # --- applied versions -----------------------------------------------------------------
