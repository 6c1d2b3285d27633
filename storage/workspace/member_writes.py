"""Set-based writes of member actions (delete, unlink, link, status, profile, create,
invite). Each handler returns the actions that took effect, with audit detail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    bindparam,
    delete,
    insert,
    select,
    update,
)

from reconciler.ids import new_id
from reconciler.model import (
    CreateInvitation,
    CreateMember,
    DeleteMember,
    LinkMember,
    Role,
    SetMemberStatus,
    UnlinkMember,
    UpdateMemberProfile,
)
from storage.bulk import insert_rows
from storage.schema import (
    group_memberships,
    invitations,
    members,
    mirror_group_members,
    workspace_groups,
)
from storage.sql import one_of
from storage.workspace.rows import (
    Effective,
    chunks,
    status_value,
)

_wg, _mgm, _m, _gm = workspace_groups, mirror_group_members, members, group_memberships


class MemberWrites:
    conn: Connection

    def _delete_members(self, t: str, batch: list[DeleteMember], now: datetime) -> Effective:
        ids = [a.member_id for a in batch]
        for chunk in chunks(ids):
            for table in (invitations, group_memberships):
                self.conn.execute(
                    delete(table).where(
                        table.c.tenant_id == t, one_of(self.conn, table.c.member_id, chunk)
                    )
                )
            self.conn.execute(
                delete(_m).where(_m.c.tenant_id == t, one_of(self.conn, _m.c.id, chunk))
            )
        return [(a, {}) for a in batch]

    def _unlink_members(self, t: str, batch: list[UnlinkMember], now: datetime) -> Effective:
        for chunk in chunks([a.member_id for a in batch]):
            self.conn.execute(
                update(_m)
                .where(_m.c.tenant_id == t, one_of(self.conn, _m.c.id, chunk))
                .values(scim_user_id=None, updated_at=now)
            )
        return [(a, {}) for a in batch]

    def _update_each(self, t: str, rows: list[dict[str, Any]], **values: Any) -> None:
        """One UPDATE per member row, sent as one executemany (bind names prefixed b_)."""
        if rows:
            stmt = update(_m).where(_m.c.tenant_id == t, _m.c.id == bindparam("b_id"))
            self.conn.execute(stmt.values(**values), rows)

    def _link_members(self, t: str, batch: list[LinkMember], now: datetime) -> Effective:
        rows = [{"b_id": a.member_id, "b_scim": a.scim_user_id} for a in batch]
        self._update_each(t, rows, scim_user_id=bindparam("b_scim"), updated_at=now)
        return [(a, {}) for a in batch]

    def _set_statuses(self, t: str, batch: list[SetMemberStatus], now: datetime) -> Effective:
        rows = [
            {
                "b_id": a.member_id,
                "b_status": a.status.value,
                "b_before": status_value(a.status_before_deactivation),
            }
            for a in batch
        ]
        self._update_each(
            t,
            rows,
            status=bindparam("b_status"),
            status_before_deactivation=bindparam("b_before"),
            updated_at=now,
        )
        return [(a, {}) for a in batch]

    def _update_profiles(
        self, t: str, batch: list[UpdateMemberProfile], now: datetime
    ) -> Effective:
        rows = [
            {
                "b_id": a.member_id,
                "b_email": a.email,
                "b_email_ci": a.email.lower(),
                "b_name": a.display_name,
                "b_password": a.has_password,
            }
            for a in batch
        ]
        self._update_each(
            t,
            rows,
            email=bindparam("b_email"),
            email_ci=bindparam("b_email_ci"),
            display_name=bindparam("b_name"),
            has_password=bindparam("b_password"),
            updated_at=now,
        )
        return [(a, {}) for a in batch]

    def _create_members(self, t: str, batch: list[CreateMember], now: datetime) -> Effective:
        insert_rows(
            self.conn,
            _m,
            [
                {
                    "tenant_id": t,
                    "id": a.member_id,
                    "email": a.email,
                    "email_ci": a.email.lower(),
                    "display_name": a.display_name,
                    "status": a.status.value,
                    "status_before_deactivation": status_value(a.status_before_deactivation),
                    "role": Role.MEMBER.value,
                    "has_password": a.has_password,
                    "scim_user_id": a.scim_user_id,
                    "created_at": now,
                    "updated_at": now,
                }
                for a in batch
            ],
        )
        return [(a, {}) for a in batch]

    def _create_invitations(
        self, t: str, batch: list[CreateInvitation], now: datetime
    ) -> Effective:
        """Only for members without an open invitation: a second one would be noise."""
        wanted = {a.member_id: a for a in batch}
        open_ = set()
        for chunk in chunks(list(wanted)):
            open_ |= set(
                self.conn.execute(
                    select(invitations.c.member_id).where(
                        invitations.c.tenant_id == t,
                        invitations.c.member_id.in_(chunk),
                        invitations.c.accepted_at.is_(None),
                    )
                ).scalars()
            )
        new = [a for member_id, a in wanted.items() if member_id not in open_]
        if new:
            self.conn.execute(
                insert(invitations),
                [
                    {
                        "tenant_id": t,
                        "id": new_id(),
                        "member_id": a.member_id,
                        "email": a.email,
                        "created_at": now,
                    }
                    for a in new
                ],
            )
        return [(a, {}) for a in new]
