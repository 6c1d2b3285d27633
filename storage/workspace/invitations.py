"""`SqlInvitationStore`: the core's `reconciler.invitations.InvitationStore` over SQL.

The admin store's policy lock, member reads and audit writer, plus the invitations
table. Never commits; `invitation_unit_of_work` is one request's or task's transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, insert, select, update

from reconciler.invitations import Invitation
from reconciler.model import MemberStatus
from reconciler.rules import StatusPair
from storage.clock import as_utc
from storage.db import unit_of_work
from storage.schema import invitations, members
from storage.workspace.admin_store import SqlAdminStore
from storage.workspace.rows import status_value

_i = invitations


def _invitation(row: Any) -> Invitation:
    def when(value: datetime | None) -> datetime | None:
        return as_utc(value) if value is not None else None

    return Invitation(
        id=row.id,
        tenant_id=row.tenant_id,
        member_id=row.member_id,
        email=row.email,
        created_at=as_utc(row.created_at),
        sent_at=when(row.sent_at),
        expires_at=when(row.expires_at),
        accepted_at=when(row.accepted_at),
        revoked_at=when(row.revoked_at),
        sends=row.sends or 0,
    )


class SqlInvitationStore(SqlAdminStore):
    def open_invitation_for(self, tenant_id: str, member_id: str) -> Invitation | None:
        row = self.conn.execute(
            select(_i)
            .where(
                _i.c.tenant_id == tenant_id,
                _i.c.member_id == member_id,
                _i.c.accepted_at.is_(None),
                _i.c.revoked_at.is_(None),
            )
            .order_by(_i.c.created_at.desc())
            .limit(1)
        ).first()
        return _invitation(row) if row is not None else None

    def find_invitation(self, tenant_id: str, invitation_id: str) -> Invitation | None:
        row = self.conn.execute(
            select(_i).where(_i.c.tenant_id == tenant_id, _i.c.id == invitation_id)
        ).first()
        return _invitation(row) if row is not None else None

    def find_by_token(self, token_hash: str) -> Invitation | None:
        row = self.conn.execute(select(_i).where(_i.c.token_hash == token_hash)).first()
        return _invitation(row) if row is not None else None

    def insert_invitation(self, invitation: Invitation) -> None:
        self.conn.execute(
            insert(_i).values(
                tenant_id=invitation.tenant_id,
                id=invitation.id,
                member_id=invitation.member_id,
                email=invitation.email,
                created_at=invitation.created_at,
                sends=0,
            )
        )

    def set_link(
        self, tenant_id: str, invitation_id: str, token_hash: str, sent: datetime, expires: datetime
    ) -> None:
        self.conn.execute(
            update(_i)
            .where(_i.c.tenant_id == tenant_id, _i.c.id == invitation_id)
            .values(token_hash=token_hash, sent_at=sent, expires_at=expires, sends=_i.c.sends + 1)
        )

    def revoke_invitation(self, tenant_id: str, invitation_id: str, when: datetime) -> None:
        self.conn.execute(
            update(_i)
            .where(_i.c.tenant_id == tenant_id, _i.c.id == invitation_id)
            .values(revoked_at=when, token_hash=None)
        )

    def accept(
        self, invitation: Invitation, status: StatusPair, password_hash: str, when: datetime
    ) -> None:
        t = invitation.tenant_id
        self.conn.execute(
            update(members)
            .where(members.c.tenant_id == t, members.c.id == invitation.member_id)
            .values(
                status=status[0].value,
                status_before_deactivation=status_value(status[1]),
                has_password=True,
                password_hash=password_hash,
                updated_at=when,
            )
        )
        # The token is kept so that a second use is told "already used", not "unknown".
        self.conn.execute(
            update(_i)
            .where(_i.c.tenant_id == t, _i.c.member_id == invitation.member_id)
            .where(_i.c.accepted_at.is_(None), _i.c.revoked_at.is_(None))
            .values(accepted_at=when)
        )

    def pending_member_ids(self, tenant_id: str) -> list[str]:
        rows = self.conn.execute(
            select(members.c.id)
            .where(members.c.tenant_id == tenant_id, members.c.status == MemberStatus.PENDING.value)
            .order_by(members.c.email_ci)
        )
        return list(rows.scalars())

    def open_invitations(self, tenant_id: str) -> dict[str, Invitation]:
        """Each member's open invitation (for the Pending tab), by member id."""
        rows = self.conn.execute(
            select(_i)
            .where(_i.c.tenant_id == tenant_id, _i.c.accepted_at.is_(None))
            .where(_i.c.revoked_at.is_(None))
            .order_by(_i.c.created_at)
        )
        return {row.member_id: _invitation(row) for row in rows}


@contextmanager
def invitation_unit_of_work(engine: Engine, *, write: bool = True) -> Iterator[SqlInvitationStore]:
    with unit_of_work(engine, write=write) as conn:
        yield SqlInvitationStore(conn, lock_tenant=write)
