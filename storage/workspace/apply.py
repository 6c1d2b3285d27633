"""The SQL side of level-triggered apply: the core's orchestration over `SqlWorkspaceStore`."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from reconciler.apply import apply_with_store
from reconciler.model import ApplyOutcome, ResourceKey
from storage.workspace.statistics import refresh_statistics
from storage.workspace.store import SqlWorkspaceStore


def apply_resources(
    conn: Connection, tenant_id: str, keys: Sequence[ResourceKey], *, actor: str = "worker"
) -> ApplyOutcome:
    """Apply `keys` to the workspace inside the caller's transaction (never commits)."""
    refresh_statistics(conn)
    return apply_with_store(SqlWorkspaceStore(conn), tenant_id, keys, actor=actor)
