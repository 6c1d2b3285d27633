"""The one ingest write path: dialect -> mirror + change event -> audit -> publish after commit.

Every entry point that changes the mirror (SCIM `/Users` and `/Groups`, `/Bulk`,
canonical webhooks, Okta Event Hooks, mirror repair) opens one `ingest_session` per
request and calls `write` for each change:

    with ingest_session(engine, tenant, actor=token_id, publish=publisher) as session:
        result = session.write(Kind.USER, Op.CREATE, body)

1. the tenant's dialect (events/ingest/dialects/) picks the step and fixes its IdP's quirks;
2. the step writes the mirror and appends the change event (events/ingest/writes.py);
3. when the block ends, one INSERT ... SELECT copies the request's events into the
   audit log with the caller's identity and the request's origin (storage/audit.py),
   and, when a group write moved members, one INSERT notes which users it touched (the
   provisioning trace reads both);
4. the events are handed to the publisher only once the transaction has committed
   (`storage.db.after_commit`): a rolled-back write tells no worker, and a publisher
   that fails leaves the events to the relay.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, Engine

from events.ingest.batches import create_groups, create_users
from events.ingest.dialects import dialect_for
from events.ingest.origin import current_origin
from events.ingest.writes import Kind, Op, WriteAction, WriteResult
from events.scim.resources import ParsedGroup, ParsedUser
from storage import audit
from storage.clock import utcnow
from storage.db import after_commit, unit_of_work
from storage.group_commit import GroupCommitter
from storage.tenants import Tenant

Handlers = Mapping[tuple[Kind, Op], WriteAction]
DEFAULT_MAX_PATCH_OPERATIONS = 1000
T = TypeVar("T")


class Publisher(Protocol):
    """Tells the workers that `tenant_id` has committed events; called after COMMIT only.

    Best effort and never raises: with the broker down the events stay unpublished in
    the event log and the relay republishes them.
    """

    def __call__(self, tenant_id: str, event_ids: Sequence[int]) -> object: ...


class IngestSession:
    """The writes of one request, in the caller's unit of work (see the module docstring)."""

    def __init__(
        self,
        conn: Connection,
        tenant: Tenant,
        *,
        actor: str,
        publish: Publisher,
        via: str = "scim",
        source: str = "scim",
        handlers: Handlers | None = None,
        max_patch_operations: int = DEFAULT_MAX_PATCH_OPERATIONS,
        now: datetime | None = None,
    ) -> None:
        self.conn = conn
        self.tenant = tenant
        self.actor = actor
        self.via = via  # the audit action's prefix: scim_create_user, webhook_patch_group
        self.source = source  # the change event's source column
        self.now = now or utcnow()
        self.event_ids: list[int] = []
        self.touched: list[tuple[int, str, str]] = []  # (group event, user, joined|left)
        self._publish = publish
        self._handlers = dialect_for(tenant.idp).handlers if handlers is None else handlers
        self._max_patch_operations = max_patch_operations

    def write(self, kind: Kind, op: Op, *args: Any, **options: Any) -> WriteResult:
        """One change through the tenant's dialect: `args` as the step takes them (a
        resource id, a body); `options` such as `if_match`."""
        if op is Op.PATCH:
            options.setdefault("max_operations", self._max_patch_operations)
        handler = self._handlers[(kind, op)]
        return self._kept(
            [handler(self.conn, self.tenant, *args, self.now, source=self.source, **options)]
        )[0]

    def create_users(
        self, users: Sequence[dict[str, Any] | ParsedUser], ids: Sequence[str | None] | None = None
    ) -> list[WriteResult]:
        """Many user creates at once, without a dialect (a source's snapshot, not an IdP's
        push): the same rows, events and audit as `write(USER, CREATE, body)` each; `ids`:
        the ids a reconcile's plan gave them."""
        results = create_users(self.conn, self.tenant, users, self.now, source=self.source, ids=ids)
        return self._kept(results)

    def create_groups(
        self,
        groups: Sequence[dict[str, Any] | ParsedGroup],
        ids: Sequence[str | None] | None = None,
    ) -> list[WriteResult]:
        """Many group creates at once, as `create_users`: the same rows, events, audit and
        trace as `write(GROUP, CREATE, body)` each."""
        results = create_groups(
            self.conn, self.tenant, groups, self.now, source=self.source, ids=ids
        )
        return self._kept(results)

    def _kept(self, results: list[WriteResult]) -> list[WriteResult]:
        """Note the results' events (audited and published at the end) and who they moved."""
        for result in results:
            self.event_ids.extend(result.event_ids)
            self.touched.extend(
                (e, user, change)
                for e in result.event_ids
                for user, change in result.touched.items()
            )
        return results

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Writes that may fail alone (one Bulk operation, one hook event): when the block
        raises, its changes and its events are rolled back and forgotten, the rest stays."""
        mark, touched_mark = len(self.event_ids), len(self.touched)
        try:
            with self.conn.begin_nested():
                yield
        except BaseException:
            del self.event_ids[mark:]
            del self.touched[touched_mark:]
            raise

    def finish(self) -> None:
        """Audit the request's events and publish them once the transaction commits."""
        if not self.event_ids:
            return
        origin = current_origin.get()
        if origin is not None:
            origin = replace(origin, idp=self.tenant.idp)
        audit.record_writes(
            self.conn,
            self.tenant.id,
            actor=self.actor,
            event_ids=self.event_ids,
            via=self.via,
            origin=origin or audit.RequestOrigin(idp=self.tenant.idp),
        )
        audit.record_touched(self.conn, self.tenant.id, self.touched)
        after_commit(self.conn, partial(self._publish, self.tenant.id, tuple(self.event_ids)))


@contextmanager
def ingest_session(
    engine: Engine,
    tenant: Tenant,
    *,
    actor: str,
    publish: Publisher,
    via: str = "scim",
    source: str = "scim",
    handlers: Handlers | None = None,
    max_patch_operations: int = DEFAULT_MAX_PATCH_OPERATIONS,
) -> Iterator[IngestSession]:
    """A unit of work holding one request's writes; audited and committed when the block
    ends, published after the commit. Raising in the block writes and publishes nothing."""
    with unit_of_work(engine) as conn:
        session = IngestSession(
            conn,
            tenant,
            actor=actor,
            publish=publish,
            via=via,
            source=source,
            handlers=handlers,
            max_patch_operations=max_patch_operations,
        )
        yield session
        session.finish()


def grouped_ingest(
    committer: GroupCommitter,
    tenant: Tenant,
    work: Callable[[IngestSession], T],
    *,
    actor: str,
    publish: Publisher,
    max_patch_operations: int = DEFAULT_MAX_PATCH_OPERATIONS,
) -> T:
    """`work(session)` as `ingest_session` would run it, but in a transaction it may share
    with other requests' writes (storage/group_commit.py): the same rows, audit and
    publish, committed (and published) before this returns; a `work` that raises leaves
    nothing behind and raises here."""

    def in_transaction(conn: Connection) -> T:
        session = IngestSession(
            conn,
            tenant,
            actor=actor,
            publish=publish,
            max_patch_operations=max_patch_operations,
        )
        result = work(session)
        session.finish()
        return result

    return committer.run(in_transaction)
