"""What the batched-create tests share: a tenant as the ingest path loads it, and a
reconcile's write session (no IdP dialect) that records what it publishes."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Engine

from events.ingest.service import IngestSession, ingest_session
from events.ingest.writes import WRITES
from storage import tenants
from storage.db import unit_of_work
from tests.support.workspace import make_tenant


def loaded_tenant(engine: Engine, name: str, domain: str) -> Any:
    handle = make_tenant(engine, name=name, domains=(domain,), owner_email=None)
    with unit_of_work(engine, write=False) as conn:
        return tenants.get(conn, handle.id)


def reconcile_session(
    engine: Engine, tenant: Any, published: list[Sequence[int]]
) -> AbstractContextManager[IngestSession]:
    return ingest_session(
        engine,
        tenant,
        actor="reconcile",
        publish=lambda _t, ids: published.append(ids),
        via="reconcile",
        source="reconcile",
        handlers=WRITES,
    )
