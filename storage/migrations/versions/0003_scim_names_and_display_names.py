"""(SCIM) names reserved for the IdP's groups; name.formatted kept for display names

Revision ID: 0003
Revises: 0002

Data: names before this revision could break the rules that start here, so they are
rewritten once, each rename audited (actor "migration"):
- a native group named "... (SCIM)" or "... (SCIM n)" loses the suffix (" (renamed)"
  is added when the bare name is taken): the suffix now means "managed by the IdP";
- a SCIM group named "X (SCIM n)" becomes "X (SCIM)"; when another SCIM group already
  holds that name (two IdP groups with one name), the later one becomes
  "X [<its id>] (SCIM)" and stays refused until the IdP renames one of them;
- SCIM-managed members without a display name get one from the mirror
  (displayName, name.formatted, given + family name, userName).
The code is frozen here (no imports from the application), as migrations must be.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_RESERVED = re.compile(r"\(\s*scim(?:\s+[0-9]+)?\s*\)\s*$", re.IGNORECASE)


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _name_part(resource: Any, key: str) -> str | None:
    name = resource.get("name") if isinstance(resource, dict) else None
    return _text(name.get(key)) if isinstance(name, dict) else None


def upgrade() -> None:
    op.add_column("mirror_users", sa.Column("formatted_name", sa.String(length=320)))
    conn = op.get_bind()
    meta = sa.MetaData()
    users = sa.Table("mirror_users", meta, autoload_with=conn)
    groups = sa.Table("mirror_groups", meta, autoload_with=conn)
    members = sa.Table("members", meta, autoload_with=conn)
    wgroups = sa.Table("workspace_groups", meta, autoload_with=conn)
    audit = sa.Table("audit_log", meta, autoload_with=conn)
    names = _backfill_users(conn, users)
    _backfill_member_names(conn, members, names)
    _rename_groups(conn, wgroups, groups, audit)


def _backfill_users(conn: sa.Connection, users: sa.Table) -> dict[tuple[str, str], str]:
    """formatted_name from each stored resource; returns each user's display name."""
    names: dict[tuple[str, str], str] = {}
    rows = conn.execute(
        sa.select(users.c.tenant_id, users.c.id, users.c.user_name, users.c.resource)
    ).all()
    for row in rows:
        resource = row.resource if isinstance(row.resource, dict) else {}
        formatted = _name_part(resource, "formatted")
        if formatted:
            conn.execute(
                users.update()
                .where(users.c.tenant_id == row.tenant_id, users.c.id == row.id)
                .values(formatted_name=formatted)
            )
        given, family = _name_part(resource, "givenName"), _name_part(resource, "familyName")
        shown = (
            _text(resource.get("displayName"))
            or formatted
            or " ".join(p for p in (given, family) if p)
            or row.user_name
        )
        names[(row.tenant_id, row.id)] = shown
    return names


def _backfill_member_names(
    conn: sa.Connection, members: sa.Table, names: dict[tuple[str, str], str]
) -> None:
    rows = conn.execute(
        sa.select(members.c.tenant_id, members.c.id, members.c.scim_user_id).where(
            members.c.scim_user_id.is_not(None), members.c.display_name.is_(None)
        )
    ).all()
    for row in rows:
        shown = names.get((row.tenant_id, row.scim_user_id))
        if shown:
            conn.execute(
                members.update()
                .where(members.c.tenant_id == row.tenant_id, members.c.id == row.id)
                .values(display_name=shown)
            )


def _rename_groups(
    conn: sa.Connection, wgroups: sa.Table, groups: sa.Table, audit: sa.Table
) -> None:
    rows = conn.execute(
        sa.select(
            wgroups.c.tenant_id,
            wgroups.c.id,
            wgroups.c.name,
            wgroups.c.scim_group_id,
            groups.c.display_name,
        )
        .select_from(
            wgroups.outerjoin(
                groups,
                sa.and_(
                    groups.c.tenant_id == wgroups.c.tenant_id,
                    groups.c.id == wgroups.c.scim_group_id,
                ),
            )
        )
        .order_by(wgroups.c.tenant_id, wgroups.c.created_at, wgroups.c.id)
    ).all()
    taken: dict[str, set[str]] = {}
    for row in rows:
        taken.setdefault(row.tenant_id, set()).add(row.name.lower())
    # Native groups first: they give the suffixed names back before SCIM groups claim them.
    ordered = sorted(rows, key=lambda r: r.scim_group_id is not None)
    for row in ordered:
        names = taken[row.tenant_id]
        new = _new_name(row, names)
        if new is None or new == row.name:
            continue
        names.discard(row.name.lower())
        names.add(new.lower())
        conn.execute(
            wgroups.update()
            .where(wgroups.c.tenant_id == row.tenant_id, wgroups.c.id == row.id)
            .values(name=new, name_ci=new.lower())
        )
        conn.execute(
            audit.insert().values(
                tenant_id=row.tenant_id,
                actor="migration",
                action="rename_group",
                target=f"group:{row.id}",
                detail={"from": row.name, "name": new, "why": "(SCIM) is reserved for SCIM groups"},
                at=datetime.now(UTC),
            )
        )


def _new_name(row: Any, taken: set[str]) -> str | None:
    if row.scim_group_id is None:
        if not _RESERVED.search(row.name):
            return None
        stem = _RESERVED.sub("", row.name).rstrip() or "Group"
        candidates = [stem, f"{stem} (renamed)", *(f"{stem} (renamed {n})" for n in range(2, 100))]
    else:
        stem = row.display_name or (_RESERVED.sub("", row.name).rstrip() or "Group")
        wanted = f"{stem} (SCIM)"
        if row.name == wanted:
            return None
        candidates = [wanted, f"{stem} [{row.scim_group_id}] (SCIM)"]
    mine = row.name.lower()
    return next((c for c in candidates if c.lower() not in taken or c.lower() == mine), None)


def downgrade() -> None:
    # The renames are not undone: the old names broke the rules this revision starts.
    op.drop_column("mirror_users", "formatted_name")
