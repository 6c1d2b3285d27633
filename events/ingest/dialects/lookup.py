"""Find mirror resources by a natural key (userName, externalId, displayName, email).

Senders that do not know our ids (webhooks, IdPs adopting by name) name resources
by what they know. The lookups go through the SCIM filter compiler, so they mean
exactly what the same `filter=` would mean to the IdP; a JSON string literal is a
valid SCIM filter string, which keeps any value safely quoted.
"""

from __future__ import annotations

import json

from sqlalchemy import Connection, text

from events.scim.filter import group_filter, user_filter
from reconciler.errors import Uniqueness
from storage import mirror
from storage.mirror import MirrorResource
from storage.projection import fold


def quoted(value: str) -> str:
    return json.dumps(value)


def _only(kind: str, text: str, found: list[MirrorResource]) -> MirrorResource | None:
    if len(found) > 1:
        raise Uniqueness(f"more than one {kind} matches {text}; cannot tell which one is meant")
    return found[0] if found else None


def find_user(
    conn: Connection, tenant_id: str, attribute: str, value: str
) -> MirrorResource | None:
    """The one user whose `attribute` equals `value` (case rules as in filters), or None."""
    text = f"{attribute} eq {quoted(value)}"
    _, found = mirror.list_users(conn, tenant_id, where=user_filter(text), limit=2)
    return _only("user", text, found)


def find_group(
    conn: Connection, tenant_id: str, attribute: str, value: str
) -> MirrorResource | None:
    text = f"{attribute} eq {quoted(value)}"
    _, found = mirror.list_groups(conn, tenant_id, where=group_filter(text), limit=2)
    return _only("group", text, found)


def lock_name(conn: Connection, tenant_id: str, kind: str, name: str) -> None:
    """Serialise find-or-create by name until the transaction ends.

    Group names carry no unique constraint (two IdP groups may share one), so two
    deliveries creating the same group at once would both find nothing and both
    create it. PostgreSQL: a transaction advisory lock on the folded name, taken
    before the lookup, makes the second wait and then find the first's group.
    SQLite: writers are already one at a time (BEGIN IMMEDIATE).
    """
    if conn.dialect.name != "postgresql":
        return
    key = f"name:{tenant_id}:{kind}:{fold(name)}"
    conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key})
