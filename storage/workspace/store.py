"""The workspace in SQL: bulk snapshot loads and set-based applies (PostgreSQL and SQLite).

`SqlWorkspaceStore` implements `reconciler.apply.WorkspaceStore` over a
Connection and never commits. Loads take a few `IN (...)` queries per chunk of
500 keys (or index range scans over a full reconcile's chunk of keys, see
`KeySet`); the membership drift of users and groups is counted in SQL, so keys in
step send back no membership rows. A group's SCIM memberships are compared and
synced set-based (`INSERT ... SELECT ... WHERE NOT EXISTS`, `DELETE ... WHERE NOT
EXISTS`), so a 50,000-member group is two statements; a batch of users reads its
own few (group, member) pairs with two indexed queries and writes the difference
in bulk. Every effective action gets one audit_log row, inserted in one statement.
Also here: the rule-11 cascade (`run_sso_removal`), the reads behind rules 8
and 9, and `refresh_statistics` (query plans need fresh statistics after a bulk
import, on PostgreSQL and SQLite).

Locking: `load_policy` takes the tenant row `FOR UPDATE` (PostgreSQL), so the
applies of one tenant run one at a time; SQLite's single writer does the same.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    any_,
    bindparam,
    delete,
    except_,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from reconciler import rules
from reconciler.apply import AppliedStats
from reconciler.cascade import CascadeReport, plan_group_sso_removal, plan_member_sso_removal
from reconciler.model import (
    Action,
    ActualGroup,
    ActualMember,
    CreateGroup,
    CreateInvitation,
    CreateMember,
    DeleteGroup,
    DeleteMember,
    DesiredGroup,
    DesiredUser,
    GroupSnapshot,
    IdpKind,
    LinkMember,
    MemberStatus,
    RecordRefusal,
    RenameGroup,
    ResourceKey,
    Role,
    RuleViolation,
    SetMemberStatus,
    SyncGroupMembers,
    SyncUserMemberships,
    TenantPolicy,
    UnlinkMember,
    UpdateMemberProfile,
    UserSnapshot,
    action_target,
)
from reconciler.planner import new_id
from storage.schema import (
    Id,
    Timestamp,
    api_tokens,
    applied_versions,
    audit_log,
    group_memberships,
    group_permissions,
    invitations,
    members,
    mirror_group_members,
    mirror_groups,
    mirror_users,
    tenants,
    workspace_groups,
)
from storage.sql import one_of

CHUNK = 500
T = TypeVar("T")
Effective = list[tuple[Action, dict[str, Any]]]  # applied actions, with extra audit detail


def _chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _value(status: MemberStatus | None) -> str | None:
    return status.value if status is not None else None


def _member(row: Any) -> ActualMember:
    before = row.status_before_deactivation
    return ActualMember(
        id=row.id,
        email=row.email,
        email_ci=row.email_ci,
        status=MemberStatus(row.status),
        display_name=row.display_name,
        status_before_deactivation=MemberStatus(before) if before else None,
        role=Role(row.role),
        has_password=bool(row.has_password),
        scim_user_id=row.scim_user_id,
    )


_MEMBER_COLUMNS = [
    members.c[name]
    for name in (
        "id",
        "email",
        "email_ci",
        "status",
        "display_name",
        "status_before_deactivation",
        "role",
        "has_password",
        "scim_user_id",
    )
]
_DESIRED_USER_COLUMNS = [
    mirror_users.c[name]
    for name in ("id", "user_name", "email_ci", "display_name", "active", "has_password", "version")
]


def _as_detail(value: Any) -> Any:
    """`dataclasses.asdict` without its deep copies: a tenth of the time, for one audit row
    per applied action."""
    fields = getattr(type(value), "__dataclass_fields__", None)
    if fields is not None:
        return {name: _as_detail(getattr(value, name)) for name in fields}
    if isinstance(value, list | tuple):
        return type(value)(_as_detail(v) for v in value)
    if isinstance(value, dict):
        return {k: _as_detail(v) for k, v in value.items()}
    return value


def _desired_user(row: Any) -> DesiredUser:
    spelled = row.user_name if row.user_name.lower() == row.email_ci else row.email_ci
    return DesiredUser(
        scim_id=row.id,
        email_ci=row.email_ci,
        email=spelled,
        display_name=row.display_name,
        active=bool(row.active),
        has_password=bool(row.has_password),
        version=row.version,
    )


# --- memberships -------------------------------------------------------------------------
# Desired SCIM memberships: (workspace group, member) for every mirror group member
# who is a linked workspace member, in the workspace group linked to that mirror
# group. A group is synced set-based (one INSERT ... SELECT, one DELETE); a batch
# of users reads its few (group, member) pairs with two indexed queries.

_wg, _mgm, _m, _gm = workspace_groups, mirror_group_members, members, group_memberships
_MIRROR_TO_GROUP = and_(_wg.c.tenant_id == _mgm.c.tenant_id, _wg.c.scim_group_id == _mgm.c.group_id)
_MIRROR_TO_MEMBER = and_(_m.c.tenant_id == _mgm.c.tenant_id, _m.c.scim_user_id == _mgm.c.member_id)
Pair = tuple[str, str]  # (group_id, member_id)


@dataclass(frozen=True)
class KeySet:
    """The resource ids one load is for, and how SQL finds their rows.

    By default the rows of exactly `ids` (`IN (...)`). A full reconcile streams a tenant
    in key order, so its chunk is every id in [low, high]: with `bounds` the loads are
    index range scans instead (rows of ids in the range but not in `ids` are ignored).
    """

    ids: Sequence[str]
    bounds: tuple[str, str] | None = None
    as_array: bool = False  # PostgreSQL: `= ANY(array)`, see storage/sql.py `one_of`

    def match(self, column: ColumnElement[Any]) -> ColumnElement[bool]:
        if self.bounds is not None:
            return column.between(*self.bounds)
        if self.as_array:
            array = bindparam(None, list(self.ids), type_=postgresql.ARRAY(column.type))
            return column == any_(array)
        return column.in_(self.ids)


def _user_membership_drift(tenant_id: str, keys: KeySet) -> Select[Any]:
    """(member id, n): how many SCIM memberships are missing or extra for each member linked
    to these SCIM users; members in step have no row, so a chunk in step sends back nothing.

    Both sides are read from the chunk's members (index lookups, never a scan of the
    tenant's memberships) and compared as sets (EXCEPT), like `_user_pairs`."""
    chunk = (
        select(_m.c.id, _m.c.scim_user_id)
        .where(_m.c.tenant_id == tenant_id, keys.match(_m.c.scim_user_id))
        .cte("chunk")
    )
    to_mirror = and_(_mgm.c.tenant_id == tenant_id, _mgm.c.member_id == chunk.c.scim_user_id)
    desired = (
        select(chunk.c.id.label("member_id"), _wg.c.id.label("group_id"))
        .select_from(chunk.join(_mgm, to_mirror).join(_wg, _MIRROR_TO_GROUP))
        .where(_mgm.c.member_type == "User")
        .cte("desired")
    )
    to_held = and_(_gm.c.tenant_id == tenant_id, _gm.c.member_id == chunk.c.id)
    existing = (
        select(_gm.c.member_id, _gm.c.group_id, _gm.c.source)
        .select_from(chunk.join(_gm, to_held))
        .cte("existing")
    )
    want = select(desired.c.member_id, desired.c.group_id)
    have = select(existing.c.member_id, existing.c.group_id)
    missing = except_(want, have).subquery("missing")
    extra = except_(have.where(existing.c.source == "scim"), want).subquery("extra")
    drift = union_all(select(missing.c.member_id), select(extra.c.member_id)).subquery("drift")
    return select(drift.c.member_id, func.count()).group_by(drift.c.member_id)


def _missing_in_groups(tenant_id: str, group_ids: Sequence[str]) -> Select[Any]:
    """(group_id, member_id) the mirror asks for that these groups lack."""
    existing = group_memberships.alias("existing")
    return (
        select(_wg.c.id.label("group_id"), _m.c.id.label("member_id"))
        .select_from(_wg.join(_mgm, _MIRROR_TO_GROUP).join(_m, _MIRROR_TO_MEMBER))
        .where(_wg.c.tenant_id == tenant_id, _wg.c.id.in_(group_ids), _mgm.c.member_type == "User")
        .where(
            ~exists().where(
                existing.c.tenant_id == tenant_id,
                existing.c.group_id == _wg.c.id,
                existing.c.member_id == _m.c.id,
            )
        )
    )


def _extra_in_groups(tenant_id: str, group_ids: Sequence[str]) -> ColumnElement[bool]:
    """SCIM memberships of these groups that the mirror no longer asks for."""
    desired = (
        select(literal(1))
        .select_from(_wg.join(_mgm, _MIRROR_TO_GROUP).join(_m, _MIRROR_TO_MEMBER))
        .where(_wg.c.tenant_id == tenant_id, _mgm.c.member_type == "User")
        .where(_wg.c.id == _gm.c.group_id, _m.c.id == _gm.c.member_id)
        .correlate(_gm)
    )
    return and_(
        _gm.c.tenant_id == tenant_id,
        _gm.c.source == "scim",
        _gm.c.group_id.in_(group_ids),
        ~exists(desired),
    )


class SqlWorkspaceStore:
    def __init__(self, conn: Connection, *, lock_tenant: bool = True):
        self.conn = conn
        self.lock_tenant = lock_tenant

    # --- loads ------------------------------------------------------------------------

    def load_policy(self, tenant_id: str) -> TenantPolicy | None:
        stmt = select(tenants).where(tenants.c.id == tenant_id)
        row = self.conn.execute(stmt.with_for_update() if self.lock_tenant else stmt).first()
        if row is None:
            return None
        owner = row.owner_email.lower() if row.owner_email else None
        return TenantPolicy(
            tenant_id=row.id,
            idp=IdpKind(row.idp),
            sso_domains=frozenset(d.lower() for d in row.sso_domains or ()),
            sso_configured=bool(row.sso_configured),
            scim_enabled=bool(row.scim_enabled),
            owner_email=owner,
        )

    def _keys(self, ids: Sequence[str]) -> KeySet:
        return KeySet(ids, as_array=self.conn.dialect.name == "postgresql")

    def load_users(self, tenant_id: str, scim_ids: Sequence[str]) -> dict[str, UserSnapshot]:
        snapshots: dict[str, UserSnapshot] = {}
        for chunk in _chunks(list(dict.fromkeys(scim_ids))):
            snapshots.update(self._load_user_chunk(tenant_id, self._keys(chunk)))
        return snapshots

    def _load_user_chunk(self, tenant_id: str, keys: KeySet) -> dict[str, UserSnapshot]:
        wanted = set(keys.ids)
        rows = self.conn.execute(
            select(*_DESIRED_USER_COLUMNS).where(
                mirror_users.c.tenant_id == tenant_id, keys.match(mirror_users.c.id)
            )
        )
        desired = {row.id: _desired_user(row) for row in rows if row.id in wanted}
        emails = {d.email_ci for d in desired.values() if d.email_ci}
        seen: dict[Any, ActualMember] = {}  # the two reads mostly return the same rows
        linked = {
            m.scim_user_id: m
            for m in self._members(tenant_id, keys.match(_m.c.scim_user_id), seen)
            if m.scim_user_id in wanted
        }
        holders = {
            m.email_ci: m
            for m in self._members(tenant_id, one_of(self.conn, _m.c.email_ci, emails), seen)
        }
        held: dict[str, ActualMember] = {}  # scim id -> another member holding its email
        for scim_id, wants in desired.items():
            holder = holders.get(wants.email_ci) if wants.email_ci else None
            have = linked.get(scim_id)
            if holder is not None and (have is None or holder.id != have.id):
                held[scim_id] = holder
        holder_users = {m.scim_user_id for m in held.values() if m.scim_user_id}
        claimed = (
            dict(
                self.conn.execute(  # holders' SCIM users: which email they claim now
                    select(mirror_users.c.id, mirror_users.c.email_ci).where(
                        mirror_users.c.tenant_id == tenant_id, mirror_users.c.id.in_(holder_users)
                    )
                )
                .tuples()
                .all()
            )
            if holder_users
            else {}
        )
        applied = self._applied_versions(tenant_id, "User", keys)
        drift: dict[str, int] = (
            dict(self.conn.execute(_user_membership_drift(tenant_id, keys)).tuples().all())
            if linked
            else {}
        )
        snapshots = {}
        for scim_id in keys.ids:
            want, have, holder = desired.get(scim_id), linked.get(scim_id), held.get(scim_id)
            released = bool(
                holder
                and holder.scim_user_id
                and claimed.get(holder.scim_user_id) != holder.email_ci
            )
            snapshots[scim_id] = UserSnapshot(
                scim_id,
                want,
                have,
                holder,
                released,
                drift.get(have.id, 0) if have else 0,
                applied.get(scim_id),
            )
        return snapshots

    def load_groups(self, tenant_id: str, scim_ids: Sequence[str]) -> dict[str, GroupSnapshot]:
        snapshots: dict[str, GroupSnapshot] = {}
        for ids in _chunks(list(dict.fromkeys(scim_ids))):
            snapshots.update(self._load_group_chunk(tenant_id, self._keys(ids)))
        return snapshots

    def _load_group_chunk(self, tenant_id: str, keys: KeySet) -> dict[str, GroupSnapshot]:
        wanted = set(keys.ids)
        rows = self.conn.execute(
            select(mirror_groups.c.id, mirror_groups.c.display_name, mirror_groups.c.version).where(
                mirror_groups.c.tenant_id == tenant_id, keys.match(mirror_groups.c.id)
            )
        )
        desired = {
            row.id: DesiredGroup(row.id, row.display_name, row.version)
            for row in rows
            if row.id in wanted
        }
        actual = {
            row.scim_group_id: ActualGroup(row.id, row.name, row.scim_group_id)
            for row in self.conn.execute(
                select(_wg.c.id, _wg.c.name, _wg.c.scim_group_id).where(
                    _wg.c.tenant_id == tenant_id, keys.match(_wg.c.scim_group_id)
                )
            )
            if row.scim_group_id in wanted
        }
        taken = self._taken_names(tenant_id, {d.display_name for d in desired.values()})
        drift = self._group_drift(tenant_id, [g.id for g in actual.values()])
        return {
            scim_id: GroupSnapshot(
                scim_id,
                desired.get(scim_id),
                have := actual.get(scim_id),
                taken,
                drift.get(have.id, 0) if have else 0,
            )
            for scim_id in keys.ids
        }

    def _members(
        self, tenant_id: str, condition: ColumnElement[bool], seen: dict[Any, ActualMember]
    ) -> list[ActualMember]:
        """The members matching the condition; a row already read (`seen`) is built once."""
        found = []
        for row in self.conn.execute(
            select(*_MEMBER_COLUMNS).where(_m.c.tenant_id == tenant_id, condition)
        ):
            key = tuple(row)
            member = seen.get(key)
            if member is None:
                member = seen[key] = _member(row)
            found.append(member)
        return found

    def _applied_versions(self, tenant_id: str, kind: str, keys: KeySet) -> dict[str, int]:
        av = applied_versions
        rows = self.conn.execute(
            select(av.c.resource_id, av.c.version).where(
                av.c.tenant_id == tenant_id,
                av.c.resource_type == kind,
                keys.match(av.c.resource_id),
            )
        )
        return dict(rows.tuples().all())

    def _taken_names(self, tenant_id: str, display_names: set[str]) -> frozenset[str]:
        """Lower-cased group names that a SCIM name for these display names could clash with."""
        if not display_names:
            return frozenset()
        prefixes = [
            _wg.c.name_ci.startswith(rules.name_family(name) + " (scim", autoescape=True)
            for name in sorted(display_names)
        ]
        taken: set[str] = set()
        for some in _chunks(prefixes, 250):  # SQLite parses an OR of n terms n levels deep
            query = select(_wg.c.name_ci).where(_wg.c.tenant_id == tenant_id, or_(*some))
            taken.update(self.conn.execute(query).scalars())
        return frozenset(taken)

    def _group_drift(self, tenant_id: str, group_ids: Sequence[str]) -> dict[str, int]:
        """Missing + extra SCIM memberships per group id (absent: in step)."""
        drift: Counter[str] = Counter()
        if group_ids:
            missing = _missing_in_groups(tenant_id, group_ids).subquery()
            count_missing = select(missing.c.group_id, func.count()).group_by(missing.c.group_id)
            drift.update(dict(self.conn.execute(count_missing).tuples().all()))
            count_extra = (
                select(_gm.c.group_id, func.count())
                .where(_extra_in_groups(tenant_id, group_ids))
                .group_by(_gm.c.group_id)
            )
            drift.update(dict(self.conn.execute(count_extra).tuples().all()))
        return drift

    def _user_pairs(
        self, tenant_id: str, scim_of: dict[str, str | None]
    ) -> tuple[set[Pair], set[Pair], set[Pair]]:
        """(desired, existing, existing SCIM) pairs of these members ({member id: scim id})."""
        member_of = {scim_id: member_id for member_id, scim_id in scim_of.items() if scim_id}
        desired: set[Pair] = set()
        for chunk in _chunks(list(member_of)):
            rows = self.conn.execute(
                select(_mgm.c.member_id, _wg.c.id)
                .select_from(_mgm.join(_wg, _MIRROR_TO_GROUP))
                .where(
                    _mgm.c.tenant_id == tenant_id,
                    one_of(self.conn, _mgm.c.member_id, chunk),
                    _mgm.c.member_type == "User",
                )
            )
            desired |= {(group_id, member_of[scim_id]) for scim_id, group_id in rows}
        existing: set[Pair] = set()
        scim: set[Pair] = set()
        for chunk in _chunks(list(scim_of)):
            held = self.conn.execute(
                select(_gm.c.group_id, _gm.c.member_id, _gm.c.source).where(
                    _gm.c.tenant_id == tenant_id, one_of(self.conn, _gm.c.member_id, chunk)
                )
            )
            for group_id, member_id, source in held:
                existing.add((group_id, member_id))
                if source == "scim":
                    scim.add((group_id, member_id))
        return desired, existing, scim

    # --- applies ------------------------------------------------------------------------

    def apply(self, tenant_id: str, actions: Sequence[Action], actor: str) -> AppliedStats:
        now = datetime.now(UTC)
        by_kind: dict[type, list[Any]] = {}
        for action in actions:
            by_kind.setdefault(type(action), []).append(action)
        stats = AppliedStats()
        audit: list[dict[str, Any]] = []
        # The membership syncs join the members and groups created just before them, and
        # each row they insert has its foreign keys checked against those: with statistics
        # from before the creates (a first import: none), every check scans the table.
        refresh = any(kind in by_kind for kind in _CREATES)
        for kind, handler in _HANDLERS.items():  # the order matters: see _HANDLERS
            if kind not in by_kind:
                continue
            if refresh and kind in _SYNCS:
                refresh_statistics(self.conn)
                refresh = False
            for action, extra in handler(self, tenant_id, by_kind[kind], now):
                stats.counts[action.kind] = stats.counts.get(action.kind, 0) + 1
                stats.memberships_added += extra.get("added", 0)
                stats.memberships_removed += extra.get("removed", 0)
                audit.append(
                    {
                        "tenant_id": tenant_id,
                        "actor": actor,
                        "action": action.kind,
                        "target": action_target(action),
                        "detail": {**_as_detail(action), **extra},
                        "at": now,
                    }
                )
        if audit:
            self.conn.execute(insert(audit_log), audit)
        return stats

    def _delete_members(self, t: str, batch: list[DeleteMember], now: datetime) -> Effective:
        ids = [a.member_id for a in batch]
        for chunk in _chunks(ids):
            for table in (invitations, group_memberships):
                self.conn.execute(
                    delete(table).where(
                        table.c.tenant_id == t, one_of(self.conn, table.c.member_id, chunk)
                    )
                )
            self.conn.execute(
                delete(_m).where(_m.c.tenant_id == t, one_of(self.conn, _m.c.id, chunk))
            )
        return [(a, {}) for a in batch]

    def _unlink_members(self, t: str, batch: list[UnlinkMember], now: datetime) -> Effective:
        for chunk in _chunks([a.member_id for a in batch]):
            self.conn.execute(
                update(_m)
                .where(_m.c.tenant_id == t, one_of(self.conn, _m.c.id, chunk))
                .values(scim_user_id=None, updated_at=now)
            )
        return [(a, {}) for a in batch]

    def _update_each(self, t: str, rows: list[dict[str, Any]], **values: Any) -> None:
        """One UPDATE per member row, sent as one executemany (bind names prefixed b_)."""
        if rows:
            stmt = update(_m).where(_m.c.tenant_id == t, _m.c.id == bindparam("b_id"))
            self.conn.execute(stmt.values(**values), rows)

    def _link_members(self, t: str, batch: list[LinkMember], now: datetime) -> Effective:
        rows = [{"b_id": a.member_id, "b_scim": a.scim_user_id} for a in batch]
        self._update_each(t, rows, scim_user_id=bindparam("b_scim"), updated_at=now)
        return [(a, {}) for a in batch]

    def _set_statuses(self, t: str, batch: list[SetMemberStatus], now: datetime) -> Effective:
        rows = [
            {
                "b_id": a.member_id,
                "b_status": a.status.value,
                "b_before": _value(a.status_before_deactivation),
            }
            for a in batch
        ]
        self._update_each(
            t,
            rows,
            status=bindparam("b_status"),
            status_before_deactivation=bindparam("b_before"),
            updated_at=now,
        )
        return [(a, {}) for a in batch]

    def _update_profiles(
        self, t: str, batch: list[UpdateMemberProfile], now: datetime
    ) -> Effective:
        rows = [
            {
                "b_id": a.member_id,
                "b_email": a.email,
                "b_email_ci": a.email.lower(),
                "b_name": a.display_name,
                "b_password": a.has_password,
            }
            for a in batch
        ]
        self._update_each(
            t,
            rows,
            email=bindparam("b_email"),
            email_ci=bindparam("b_email_ci"),
            display_name=bindparam("b_name"),
            has_password=bindparam("b_password"),
            updated_at=now,
        )
        return [(a, {}) for a in batch]

    def _create_members(self, t: str, batch: list[CreateMember], now: datetime) -> Effective:
        self.conn.execute(
            insert(_m),
            [
                {
                    "tenant_id": t,
                    "id": a.member_id,
                    "email": a.email,
                    "email_ci": a.email.lower(),
                    "display_name": a.display_name,
                    "status": a.status.value,
                    "status_before_deactivation": _value(a.status_before_deactivation),
                    "role": Role.MEMBER.value,
                    "has_password": a.has_password,
                    "scim_user_id": a.scim_user_id,
                    "created_at": now,
                    "updated_at": now,
                }
                for a in batch
            ],
        )
        return [(a, {}) for a in batch]

    def _create_invitations(
        self, t: str, batch: list[CreateInvitation], now: datetime
    ) -> Effective:
        """Only for members without an open invitation: a second one would be noise."""
        wanted = {a.member_id: a for a in batch}
        open_ = set()
        for chunk in _chunks(list(wanted)):
            open_ |= set(
                self.conn.execute(
                    select(invitations.c.member_id).where(
                        invitations.c.tenant_id == t,
                        invitations.c.member_id.in_(chunk),
                        invitations.c.accepted_at.is_(None),
                    )
                ).scalars()
            )
        new = [a for member_id, a in wanted.items() if member_id not in open_]
        if new:
            self.conn.execute(
                insert(invitations),
                [
                    {
                        "tenant_id": t,
                        "id": new_id(),
                        "member_id": a.member_id,
                        "email": a.email,
                        "created_at": now,
                    }
                    for a in new
                ],
            )
        return [(a, {}) for a in new]

    def _delete_groups(self, t: str, batch: list[DeleteGroup], now: datetime) -> Effective:
        for chunk in _chunks([a.group_id for a in batch]):
            for table in (group_memberships, group_permissions):
                self.conn.execute(
                    delete(table).where(table.c.tenant_id == t, table.c.group_id.in_(chunk))
                )
            self.conn.execute(delete(_wg).where(_wg.c.tenant_id == t, _wg.c.id.in_(chunk)))
        return [(a, {}) for a in batch]

    def _create_groups(self, t: str, batch: list[CreateGroup], now: datetime) -> Effective:
        self.conn.execute(
            insert(_wg),
            [
                {
                    "tenant_id": t,
                    "id": a.group_id,
                    "name": a.name,
                    "name_ci": a.name.lower(),
                    "scim_group_id": a.scim_group_id,
                    "created_at": now,
                }
                for a in batch
            ],
        )
        return [(a, {}) for a in batch]

    def _rename_groups(self, t: str, batch: list[RenameGroup], now: datetime) -> Effective:
        stmt = update(_wg).where(_wg.c.tenant_id == t, _wg.c.id == bindparam("b_id"))
        self.conn.execute(
            stmt.values(name=bindparam("b_name"), name_ci=bindparam("b_name_ci")),
            [{"b_id": a.group_id, "b_name": a.name, "b_name_ci": a.name.lower()} for a in batch],
        )
        return [(a, {}) for a in batch]

    def _sync_users(self, t: str, batch: list[SyncUserMemberships], now: datetime) -> Effective:
        """Read the batch's pairs, insert the missing, delete the extra SCIM ones."""
        by_id = {a.member_id: a for a in batch}
        scim_of: dict[str, str | None] = {}
        for chunk in _chunks(list(by_id)):
            scim_of.update(
                self.conn.execute(
                    select(_m.c.id, _m.c.scim_user_id).where(
                        _m.c.tenant_id == t, one_of(self.conn, _m.c.id, chunk)
                    )
                )
                .tuples()
                .all()
            )
        desired, existing, scim = self._user_pairs(t, scim_of)
        missing, extra = sorted(desired - existing), sorted(scim - desired)
        for pairs in _chunks(extra):
            self.conn.execute(
                delete(_gm).where(
                    _gm.c.tenant_id == t, tuple_(_gm.c.group_id, _gm.c.member_id).in_(pairs)
                )
            )
        if missing:
            self.conn.execute(
                insert(_gm),
                [
                    {
                        "tenant_id": t,
                        "group_id": group_id,
                        "member_id": member_id,
                        "source": "scim",
                        "created_at": now,
                    }
                    for group_id, member_id in missing
                ],
            )
        added = Counter(member_id for _, member_id in missing)
        removed = Counter(member_id for _, member_id in extra)
        return [
            (action, {"added": added[i], "removed": removed[i]})
            for i, action in by_id.items()
            if added[i] or removed[i]
        ]

    def _sync_groups(self, t: str, batch: list[SyncGroupMembers], now: datetime) -> Effective:
        """Set-based: one DELETE of the extra SCIM memberships, one INSERT ... SELECT."""
        by_id = {a.group_id: a for a in batch}
        added: Counter[str] = Counter()
        removed: Counter[str] = Counter()
        for ids in _chunks(list(by_id)):
            gone = self.conn.execute(
                delete(_gm).where(_extra_in_groups(t, ids)).returning(_gm.c.group_id)
            )
            removed.update(gone.scalars())
            missing = _missing_in_groups(t, ids).subquery()
            rows = select(
                literal(t, Id),
                missing.c.group_id,
                missing.c.member_id,
                literal("scim", _gm.c.source.type),
                literal(now, Timestamp),
            )
            cols = ["tenant_id", "group_id", "member_id", "source", "created_at"]
            new = self.conn.execute(insert(_gm).from_select(cols, rows).returning(_gm.c.group_id))
            added.update(new.scalars())
        return [
            (action, {"added": added[i], "removed": removed[i]})
            for i, action in by_id.items()
            if added[i] or removed[i]
        ]

    def _refusals(self, t: str, batch: list[RecordRefusal], now: datetime) -> Effective:
        return [(a, {}) for a in batch]  # nothing changes; the audit row is the record

    # --- applied versions -----------------------------------------------------------------

    def record_applied(self, tenant_id: str, applied: Sequence[tuple[ResourceKey, int]]) -> None:
        av = applied_versions
        now = datetime.now(UTC)
        for kind in ("User", "Group"):
            gone = [rid for (k, rid), version in applied if k == kind and version == 0]
            for chunk in _chunks(gone):
                self.conn.execute(
                    delete(av).where(
                        av.c.tenant_id == tenant_id,
                        av.c.resource_type == kind,
                        one_of(self.conn, av.c.resource_id, chunk),
                    )
                )
        live = [
            {
                "tenant_id": tenant_id,
                "resource_type": k,
                "resource_id": rid,
                "version": version,
                "applied_at": now,
            }
            for (k, rid), version in dict(applied).items()
            if version > 0
        ]
        if live:
            dialect = postgresql if self.conn.dialect.name == "postgresql" else sqlite
            stmt = dialect.insert(av)
            stmt = stmt.on_conflict_do_update(
                index_elements=[av.c.tenant_id, av.c.resource_type, av.c.resource_id],
                set_={"version": stmt.excluded.version, "applied_at": stmt.excluded.applied_at},
            )
            self.conn.execute(stmt, live)


# Apply order: removals first (freeing emails and names), then links, creates and
# updates, then invitations, then the set-based membership syncs (which read the
# members and groups just written), and the refusals last (audit only).
_HANDLERS: dict[type, Any] = {
    DeleteGroup: SqlWorkspaceStore._delete_groups,
    DeleteMember: SqlWorkspaceStore._delete_members,
    UnlinkMember: SqlWorkspaceStore._unlink_members,
    LinkMember: SqlWorkspaceStore._link_members,
    CreateMember: SqlWorkspaceStore._create_members,
    SetMemberStatus: SqlWorkspaceStore._set_statuses,
    UpdateMemberProfile: SqlWorkspaceStore._update_profiles,
    CreateInvitation: SqlWorkspaceStore._create_invitations,
    CreateGroup: SqlWorkspaceStore._create_groups,
    RenameGroup: SqlWorkspaceStore._rename_groups,
    SyncUserMemberships: SqlWorkspaceStore._sync_users,
    SyncGroupMembers: SqlWorkspaceStore._sync_groups,
    RecordRefusal: SqlWorkspaceStore._refusals,
}
_CREATES = (CreateMember, CreateGroup)
_SYNCS = (SyncUserMemberships, SyncGroupMembers)


# --- planner statistics ------------------------------------------------------------------

_PLANNED_TABLES = (
    members,
    group_memberships,
    workspace_groups,
    invitations,
    applied_versions,
    mirror_users,
    mirror_group_members,
    mirror_groups,
)
_STALE_STATS = text("""
    SELECT c.relname FROM pg_class c
    WHERE c.relname IN :names AND c.relnamespace = to_regnamespace(current_schema())::oid
      AND (pg_relation_size(c.oid) / current_setting('block_size')::int > 2 * c.relpages + 8
           OR (c.reltuples < 0 AND pg_relation_size(c.oid) > 0))
""").bindparams(bindparam("names", expanding=True))
SQLITE_ANALYSIS_LIMIT = 2000  # rows sampled per index: ANALYZE stays quick at any size
_SQLITE_STATS = text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'")
_SQLITE_RECORDED = text("SELECT tbl, max(CAST(stat AS INTEGER)) FROM sqlite_stat1 GROUP BY tbl")
_SQLITE_FINGERPRINT = text(
    "SELECT group_concat(s, ';') FROM "
    "(SELECT tbl || ' ' || coalesce(idx, '') || ' ' || stat AS s FROM sqlite_stat1 ORDER BY 1)"
)


def refresh_statistics(conn: Connection) -> list[str]:
    """ANALYZE the planned tables that more than doubled in size since their last ANALYZE,
    or were never analyzed; returns them. Call it inside a writing transaction.

    A bulk import outruns autovacuum (or it is off), and SQLite has no statistics
    until someone runs ANALYZE: planned blind, the membership joins become nested
    loops over whole tables (a group sync then reads every member of the tenant per
    group). Growth-triggered, this runs a logarithmic number of times; on PostgreSQL
    SKIP_LOCKED never waits on another worker's ANALYZE. SQLite's ANALYZE is sampled,
    and a SQLite connection only sees statistics that another connection wrote once
    it reloads them, which this does too.
    """
    stale = stale_statistics(conn)
    analyze(conn, stale)
    if conn.dialect.name == "sqlite" and conn.execute(_SQLITE_STATS).first():
        fingerprint = conn.execute(_SQLITE_FINGERPRINT).scalar()
        info = conn.connection.info
        if info.get("sqlite_statistics") != fingerprint:
            if not stale:  # written by another connection: load them into this one
                conn.exec_driver_sql("ANALYZE sqlite_schema")
            info["sqlite_statistics"] = fingerprint
    return stale


def stale_statistics(conn: Connection) -> list[str]:
    """The planned tables whose statistics are missing or describe under half their rows
    (cheap: catalog page counts on PostgreSQL, the rowid high-water mark on SQLite)."""
    names = [t.name for t in _PLANNED_TABLES]
    if conn.dialect.name == "postgresql":
        return list(conn.execute(_STALE_STATS, {"names": names}).scalars())
    if conn.dialect.name != "sqlite":
        return []
    recorded: dict[str, int] = {}
    if conn.execute(_SQLITE_STATS).first():
        recorded = {name: int(n or 0) for name, n in conn.execute(_SQLITE_RECORDED).tuples()}
    return [
        name
        for name in names
        if (conn.execute(text(f'SELECT max(rowid) FROM "{name}"')).scalar() or 0)
        > 2 * recorded.get(name, 0) + 100
    ]


def analyze(conn: Connection, names: Sequence[str]) -> None:
    """ANALYZE these tables (on SQLite sampled, and it needs the writer's lock)."""
    if conn.dialect.name == "postgresql":
        for name in names:
            with conn.begin_nested():
                conn.execute(text(f'ANALYZE (SKIP_LOCKED) "{name}"'))
    elif conn.dialect.name == "sqlite" and names:
        conn.exec_driver_sql(f"PRAGMA analysis_limit = {SQLITE_ANALYSIS_LIMIT}")
        for name in names:
            conn.exec_driver_sql(f'ANALYZE "{name}"')
        conn.exec_driver_sql("PRAGMA analysis_limit = 0")


# --- rule 11: removing SSO --------------------------------------------------------------


def run_sso_removal(conn: Connection, tenant_id: str, *, actor: str = "cli") -> CascadeReport:
    """The rule-11 cascade, streamed in chunks; SSO and SCIM off; SCIM tokens revoked."""
    store = SqlWorkspaceStore(conn)
    policy = store.load_policy(tenant_id)
    if policy is None:
        raise RuleViolation("unknown_tenant", f"no tenant {tenant_id}")
    report = CascadeReport(tenant_id)
    for groups in _stream(conn, _wg, tenant_id, _wg.c.scim_group_id.is_not(None)):
        actions = [
            a
            for row in groups
            for a in plan_group_sso_removal(ActualGroup(row.id, row.name, row.scim_group_id))
        ]
        _merge(report.counts, store.apply(tenant_id, actions, actor).counts)
    deactivated = MemberStatus.DEACTIVATED.value
    needs_action = or_(_m.c.scim_user_id.is_not(None), _m.c.status == deactivated)
    for rows in _stream(conn, _m, tenant_id, needs_action):
        actions = [a for row in rows for a in plan_member_sso_removal(policy, _member(row))]
        _merge(report.counts, store.apply(tenant_id, actions, actor).counts)
    conn.execute(
        update(tenants)
        .where(tenants.c.id == tenant_id)
        .values(sso_configured=False, scim_enabled=False)
    )
    report.tokens_revoked = conn.execute(
        update(api_tokens)
        .where(
            api_tokens.c.tenant_id == tenant_id,
            api_tokens.c.kind == "scim",
            api_tokens.c.revoked_at.is_(None),
        )
        .values(revoked_at=datetime.now(UTC))
    ).rowcount
    return report


def _stream(
    conn: Connection, table: Any, tenant_id: str, condition: ColumnElement[bool]
) -> Iterator[Sequence[Any]]:
    """Keyset pages by id: rows may be deleted or updated between pages."""
    last = ""
    while True:
        rows = conn.execute(
            select(table)
            .where(table.c.tenant_id == tenant_id, table.c.id > last, condition)
            .order_by(table.c.id)
            .limit(CHUNK)
        ).fetchall()
        if not rows:
            return
        yield rows
        last = rows[-1].id


def _merge(total: dict[str, int], counts: dict[str, int]) -> None:
    for kind, n in counts.items():
        total[kind] = total.get(kind, 0) + n


# --- rules 8 and 9: reads for the admin API ------------------------------------------------


def count_billable_members(conn: Connection, tenant_id: str) -> int:
    statuses = [status.value for status in rules.BILLABLE_STATUSES]
    return conn.execute(
        select(func.count())
        .select_from(_m)
        .where(_m.c.tenant_id == tenant_id, _m.c.status.in_(statuses))
    ).scalar_one()


def find_member(
    conn: Connection, tenant_id: str, *, member_id: str | None = None, email: str | None = None
) -> ActualMember | None:
    """One member by id, or else by email (case-insensitive)."""
    condition = (
        _m.c.id == member_id if member_id is not None else _m.c.email_ci == (email or "").lower()
    )
    row = conn.execute(select(_m).where(_m.c.tenant_id == tenant_id, condition)).first()
    return _member(row) if row is not None else None


def list_members(
    conn: Connection, tenant_id: str, status: MemberStatus | None = None
) -> list[ActualMember]:
    condition = _m.c.status == status.value if status is not None else _m.c.id.is_not(None)
    rows = conn.execute(
        select(_m).where(_m.c.tenant_id == tenant_id, condition).order_by(_m.c.email_ci)
    )
    return [_member(row) for row in rows]
