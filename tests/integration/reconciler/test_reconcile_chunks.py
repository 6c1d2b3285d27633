"""Full reconcile in small chunks: keys merged from both sides across chunk boundaries, the
range loads of a chunk and the set-based membership drift agree with planning the tenant
in one chunk, and applying chunk by chunk repairs every drift."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, delete, insert, select, text, update

from reconciler.full_run import ReconcileReport, reconcile_tenant
from storage.db import unit_of_work
from storage.reconcile_store import SqlReconcileStore
from storage.schema import group_memberships, members, mirror_users, workspace_groups
from tests.support.workspace import (
    TenantHandle,
    group_body,
    make_tenant,
    user_body,
    workspace_state,
)
from worker.pipeline import drain

USERS = 7


@pytest.fixture
def tenant(api: Any, engine: Engine, service_env: Any) -> TenantHandle:
    """7 SCIM users; "Eng" holds the first five, "Ops" the last four (two in both)."""
    handle = make_tenant(engine)
    ids = [
        api.post(
            f"{handle.scim_base}/Users",
            json=user_body(f"c{i}@acme.test", displayName=f"C {i}"),
            headers=handle.scim_headers,
        ).json()["id"]
        for i in range(USERS)
    ]
    for name, part in (("Eng", ids[:5]), ("Ops", ids[3:])):
        created = api.post(
            f"{handle.scim_base}/Groups", json=group_body(name, part), headers=handle.scim_headers
        )
        assert created.status_code == 201
    drain(engine, handle.id, batch_size=500, time_budget=30)
    return handle


def reconcile(engine: Engine, tenant_id: str, *, chunk: int, dry_run: bool) -> ReconcileReport:
    @contextmanager
    def open_store(write: bool) -> Iterator[SqlReconcileStore]:
        with unit_of_work(engine, write=write) as conn:
            yield SqlReconcileStore(conn, lock_tenant=write)

    return reconcile_tenant(open_store, tenant_id, dry_run=dry_run, force=True, chunk=chunk)


def member_id(conn: Any, email: str) -> str:
    return str(conn.execute(select(members.c.id).where(members.c.email_ci == email)).scalar_one())


def group_id(conn: Any, name: str) -> str:
    query = select(workspace_groups.c.id).where(workspace_groups.c.name == name)
    return str(conn.execute(query).scalar_one())


def extra_member(tenant_id: str, email: str, scim_user_id: str) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "id": f"extra-{email}",
        "email": email,
        "email_ci": email,
        "status": "active",
        "role": "member",
        "has_password": False,
        "scim_user_id": scim_user_id,
        "created_at": text("CURRENT_TIMESTAMP"),
        "updated_at": text("CURRENT_TIMESTAMP"),
    }


def drift_everything(engine: Engine, tenant_id: str) -> None:
    """Several drifts at once, spread over the key space (and at both of its ends)."""
    with engine.begin() as conn:
        conn.execute(delete(members).where(members.c.email_ci == "c0@acme.test"))
        conn.execute(
            update(members)
            .where(members.c.email_ci == "c1@acme.test")
            .values(status="deactivated", status_before_deactivation="active")
        )
        conn.execute(
            delete(group_memberships).where(
                group_memberships.c.member_id == member_id(conn, "c2@acme.test")
            )
        )
        conn.execute(
            insert(group_memberships).values(
                tenant_id=tenant_id,
                group_id=group_id(conn, "Eng (SCIM)"),
                member_id=member_id(conn, "c6@acme.test"),
                source="scim",
                created_at=text("CURRENT_TIMESTAMP"),
            )
        )
        conn.execute(
            update(workspace_groups)
            .where(workspace_groups.c.name == "Ops (SCIM)")
            .values(name="Renamed", name_ci="renamed")
        )
        for email, scim_id in (("first@x.test", "0000"), ("last@x.test", "zzzz")):
            conn.execute(insert(members).values(**extra_member(tenant_id, email, scim_id)))
        conn.execute(
            insert(workspace_groups).values(
                tenant_id=tenant_id,
                id="extra-group",
                name="Old (SCIM)",
                name_ci="old (scim)",
                scim_group_id="0000",
                created_at=text("CURRENT_TIMESTAMP"),
            )
        )


def test_keys_after_merges_both_sides_at_any_chunk_size(
    tenant: TenantHandle, engine: Engine
) -> None:
    drift_everything(engine, tenant.id)
    with engine.connect() as conn:
        mirror = set(conn.execute(select(mirror_users.c.id)).scalars())
        linked = set(conn.execute(select(members.c.scim_user_id)).scalars()) - {None}
        store = SqlReconcileStore(conn)
        for limit in (1, 2, 3, 100):
            seen: list[str] = []
            after: str | None = None
            while keys := store.keys_after(tenant.id, "User", after, limit):
                assert len(keys) <= limit
                seen += keys
                after = keys[-1]
            assert len(seen) == len(set(seen)) and set(seen) == mirror | linked
    assert len(mirror | linked) == USERS + 2


@pytest.mark.parametrize("chunk", [1, 2, 3])
def test_chunked_pass_plans_and_repairs_like_a_single_chunk(
    tenant: TenantHandle, engine: Engine, chunk: int
) -> None:
    before = workspace_state(engine, tenant.id)
    assert reconcile(engine, tenant.id, chunk=chunk, dry_run=True).drift == 0
    drift_everything(engine, tenant.id)
    whole = reconcile(engine, tenant.id, chunk=1000, dry_run=True)
    assert whole.counts == {
        "user_created": 1,
        "membership_added": 1,  # Eng: c2 missing
        "membership_removed": 1,  # Eng: c6 extra
        "user_reactivated": 1,
        "group_renamed": 1,
        "user_removed": 2,
        "group_deleted": 1,
    }
    small = reconcile(engine, tenant.id, chunk=chunk, dry_run=True)
    assert (small.counts, small.refused, small.keys_seen) == (
        whole.counts,
        whole.refused,
        whole.keys_seen,
    )
    assert reconcile(engine, tenant.id, chunk=chunk, dry_run=False).outcome == "repaired"
    assert workspace_state(engine, tenant.id) == before
    assert reconcile(engine, tenant.id, chunk=chunk, dry_run=True).drift == 0
