"""Fast seeding through SQL: what 100,000 HTTP calls would write, in seconds.

Rows are exactly what the ingest writes (storage/projection.py decides the
columns, the resource is the one events/scim/resources.py stores), inserted in bulk
into the mirror tables and, when asked, as pending change events, so that the
workspace can then be built by the real apply path (`worker.pipeline.drain`).
The report says which figures were seeded this way.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Engine, func, select

from bench.payloads import group_body, user_body
from events.scim.resources import parse_group, parse_user
from reconciler.ids import new_id
from storage.clock import utcnow
from storage.db import unit_of_work
from storage.event_state import EventState
from storage.projection import group_columns, user_columns, user_value_rows
from storage.schema import (
    change_events,
    dead_letters,
    mirror_group_members,
    mirror_groups,
    mirror_user_values,
    mirror_users,
)
from storage.sql import chunked

CHUNK = 2000
APPLY_BATCH = 2000  # events per apply transaction when building a seeded workspace
Progress = Callable[[str], None]


def stored_user(index: int) -> dict[str, Any]:
    """`parse_user(user_body(index)).resource` without the validation cost (checked by
    `check_stored_user`), so 100,000 users seed in seconds."""
    body = user_body(index)
    return {
        "schemas": body["schemas"],
        "externalId": body["externalId"],
        "userName": body["userName"],
        "name": {"familyName": body["name"]["familyName"], "givenName": body["name"]["givenName"]},
        "displayName": body["displayName"],
        "active": True,
        "emails": body["emails"],
    }


def check_stored_user(index: int = 7) -> None:
    if stored_user(index) != parse_user(user_body(index)).resource:
        raise AssertionError("bench.seed.stored_user no longer matches what the ingest stores")


def _event(
    tenant_id: str, kind: str, resource_id: str, payload: dict[str, Any], now: Any
) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "resource_type": kind,
        "resource_id": resource_id,
        "version": 1,
        "operation": "create",
        "source": "scim",
        "payload": payload,
        "received_at": now,
        "state": EventState.PENDING,
        "attempts": 0,
    }


def seed_users(
    engine: Engine,
    tenant_id: str,
    indexes: Iterable[int],
    *,
    events: bool,
    progress: Progress | None = None,
) -> list[str]:
    """Insert users (and their create events when `events`); returns their ids in order."""
    check_stored_user()
    ids: list[str] = []
    analyzed = 0  # users when mirror_users was last analyzed
    for part in chunked(indexes, CHUNK):
        now = utcnow()
        users, values, changes = [], [], []
        for index in part:
            user_id, resource = new_id(), stored_user(index)
            users.append(
                {
                    "tenant_id": tenant_id,
                    "id": user_id,
                    "version": 1,
                    "created_at": now,
                    "updated_at": now,
                    "resource": resource,
                    **user_columns(resource),
                }
            )
            values += user_value_rows(tenant_id, user_id, resource)
            if events:
                changes.append(_event(tenant_id, "User", user_id, resource, now))
            ids.append(user_id)
        with unit_of_work(engine) as conn:
            conn.execute(mirror_users.insert(), users)
            conn.execute(mirror_user_values.insert(), values)
            if changes:
                conn.execute(change_events.insert(), changes)
        if len(ids) >= 2 * analyzed:  # after the first chunk, then each time it doubled
            _refresh_statistics(engine)
            analyzed = len(ids)
        if progress:
            progress(f"seeded {len(ids):,} users")
    return ids


def _refresh_statistics(engine: Engine, table: str = "mirror_users") -> None:
    """PostgreSQL caches the plan of each foreign-key check per connection; planned while the
    referenced table was nearly empty it is a sequential scan, and bulk inserts referencing it
    then grow quadratically. ANALYZE replaces the stale plans."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.exec_driver_sql(f"ANALYZE {table}")
            conn.commit()


def seed_groups(
    engine: Engine,
    tenant_id: str,
    groups: Sequence[tuple[int, Sequence[str]]],
    *,
    events: bool,
    progress: Progress | None = None,
) -> list[str]:
    """Insert groups given as (index, member ids), with their create events when `events`;
    returns their ids in order. Set-based: all groups first, then members in big chunks."""
    now, ids, rows, changes = utcnow(), [], [], []
    for index, member_ids in groups:
        group_id, resource = new_id(), parse_group(group_body(index)).resource
        ids.append(group_id)
        rows.append(
            {
                "tenant_id": tenant_id,
                "id": group_id,
                "version": 1,
                "created_at": now,
                "updated_at": now,
                "resource": resource,
                **group_columns(resource),
            }
        )
        if events:
            payload = {**resource, "members_added": len(member_ids)}
            changes.append(_event(tenant_id, "Group", group_id, payload, now))
    with unit_of_work(engine) as conn:
        conn.execute(mirror_groups.insert(), rows)
        if changes:
            conn.execute(change_events.insert(), changes)
    _refresh_statistics(engine, "mirror_groups")
    links = (
        {"tenant_id": tenant_id, "group_id": group_id, "member_id": m, "member_type": "User"}
        for group_id, (_, member_ids) in zip(ids, groups, strict=True)
        for m in member_ids
    )
    for done, part in enumerate(chunked(links, 20 * CHUNK), 1):
        with unit_of_work(engine) as conn:
            conn.execute(mirror_group_members.insert(), part)
        if progress:
            progress(f"seeded {done * 20 * CHUNK:,} memberships")
    return ids


def seed_group(
    engine: Engine, tenant_id: str, index: int, member_ids: Sequence[str], *, events: bool
) -> str:
    """Insert one group holding `member_ids` (and its create event when `events`)."""
    return seed_groups(engine, tenant_id, [(index, member_ids)], events=events)[0]


def pending_events(engine: Engine, tenant_id: str) -> int:
    with unit_of_work(engine, write=False) as conn:
        return int(
            conn.execute(
                select(func.count()).where(
                    change_events.c.tenant_id == tenant_id,
                    change_events.c.state == EventState.PENDING,
                )
            ).scalar_one()
        )


def dead_letter_count(engine: Engine, tenant_id: str) -> int:
    with unit_of_work(engine, write=False) as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(dead_letters)
                .where(dead_letters.c.tenant_id == tenant_id)
            ).scalar_one()
        )


def apply_all(engine: Engine, tenant_id: str, *, progress: Progress | None = None) -> float:
    """Build the workspace from the pending events in this process, through the real apply
    path; returns the seconds it took. Raises if anything was dead-lettered."""
    from worker.pipeline import drain

    started = time.monotonic()
    while True:
        result = drain(engine, tenant_id, batch_size=APPLY_BATCH, time_budget=5)
        left = pending_events(engine, tenant_id)
        if progress:
            progress(f"applying seeded events: {left:,} left")
        if not left:
            break
        if not result.applied and not result.more:
            raise RuntimeError(f"apply made no progress with {left} events pending")
    dead = dead_letter_count(engine, tenant_id)
    if dead:
        raise RuntimeError(f"seeding dead-lettered {dead} events")
    return time.monotonic() - started
