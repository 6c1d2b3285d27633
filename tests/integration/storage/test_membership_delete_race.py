"""A user deleted while a group write adds it: the group never lists an id that is no user.

PostgreSQL only: its writers run at once (SQLite's one at a time cannot interleave them).
The chaos suite found it: a PATCH adding a member and a DELETE of that member, both
retried after an outage, left the group listing the deleted user."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import select

from storage import mirror, mirror_members
from storage.clock import utcnow
from storage.schema import mirror_group_members
from tests.support.workspace import group_body, make_tenant, user_body


def test_a_delete_waits_for_the_membership_and_removes_it(engine: Any) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs one writer at a time: the two writes cannot interleave")
    tenant = make_tenant(engine)
    with engine.begin() as conn:
        user = mirror.insert_user(
            conn, tenant.id, user_body("gone@acme.test"), has_password=False, now=utcnow()
        )
        group = mirror.insert_group(conn, tenant.id, group_body("Eng"), now=utcnow())
    deleted = threading.Event()

    def delete_the_user() -> None:
        with engine.begin() as conn:
            mirror.delete_user(conn, tenant.id, user.id)
        deleted.set()

    with engine.begin() as adding:
        mirror_members.add_members(adding, tenant.id, group.id, [user.id])
        deleter = threading.Thread(target=delete_the_user)
        deleter.start()
        # the delete waits for the write that holds the member
        assert not deleted.wait(1.0)
    deleter.join(10)
    assert deleted.is_set()

    with engine.connect() as conn:
        rows = conn.execute(
            select(mirror_group_members.c.member_id).where(
                mirror_group_members.c.tenant_id == tenant.id
            )
        )
        assert rows.scalars().all() == []


def test_a_member_deleted_first_is_refused(engine: Any) -> None:
    tenant = make_tenant(engine)
    with engine.begin() as conn:
        user = mirror.insert_user(
            conn, tenant.id, user_body("x@acme.test"), has_password=False, now=utcnow()
        )
        group = mirror.insert_group(conn, tenant.id, group_body("Ops"), now=utcnow())
        mirror.delete_user(conn, tenant.id, user.id)
        with pytest.raises(Exception, match="unknown member"):
            mirror_members.add_members(conn, tenant.id, group.id, [user.id])
