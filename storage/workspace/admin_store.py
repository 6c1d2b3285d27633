"""`SqlAdminStore`: the core's `reconciler.admin_store.AdminStore` over a Connection.

The workspace's own loads and write path (`SqlWorkspaceStore`: `load_policy`, which
locks the tenant row in a write store, and `apply`, which audits each action), plus the
admin's reads and writes: members (admin_members.py), groups (admin_groups.py),
workspaces (admin_tenants.py), the tenant's SSO, SCIM and tokens (sso.py). Never
commits: `admin_unit_of_work` is the transaction of one admin API request or CLI command.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine

from storage.db import unit_of_work
from storage.workspace.admin_groups import AdminGroupSql
from storage.workspace.admin_members import AdminMemberSql
from storage.workspace.admin_tenants import AdminTenantSql
from storage.workspace.sso import SsoSql
from storage.workspace.store import SqlWorkspaceStore


class SqlAdminStore(AdminMemberSql, AdminGroupSql, AdminTenantSql, SsoSql, SqlWorkspaceStore):
    """`AdminStore` over a Connection; never commits."""


@contextmanager
def admin_unit_of_work(engine: Engine, *, write: bool = True) -> Iterator[SqlAdminStore]:
    """One transaction with the store in it; a write store locks the tenant in `load_policy`."""
    with unit_of_work(engine, write=write) as conn:
        yield SqlAdminStore(conn, lock_tenant=write)
