"""Bulk snapshot loads: what the planner compares, for a batch of SCIM ids at once.

Loads take a few `IN (...)` queries per chunk of 500 keys (or index range scans over
a full reconcile's chunk of keys, see `KeySet`); the membership drift of users and
groups is counted in SQL, so keys in step send back no membership rows.

Locking: `load_policy` takes the tenant row `FOR UPDATE` (PostgreSQL), so the applies
of one tenant run one at a time; SQLite's single writer does the same."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    func,
    or_,
    select,
)

from reconciler import rules
from reconciler.model import (
    ActualGroup,
    ActualMember,
    AdminSeat,
    DesiredGroup,
    GroupSnapshot,
    IdpKind,
    MemberStatus,
    Role,
    TenantPolicy,
    UserSnapshot,
)
from storage.schema import (
    applied_versions,
    group_memberships,
    members,
    tenants,
    workspace_groups,
)
from storage.sql import one_of
from storage.workspace.membership_sql import (
    KeySet,
    extra_in_groups,
    missing_in_groups,
    user_membership_drift,
)
from storage.workspace.mirror_tables import MIRROR, MirrorTables
from storage.workspace.rows import (
    MEMBER_COLUMNS,
    chunks,
    desired_user_columns,
    desired_user_from_row,
    member_from_row,
)

_wg, _m, _gm = workspace_groups, members, group_memberships


class SnapshotLoads:
    conn: Connection
    lock_tenant: bool
    mirror: MirrorTables

    def __init__(
        self, conn: Connection, *, lock_tenant: bool = True, mirror: MirrorTables = MIRROR
    ):
        self.conn = conn
        self.lock_tenant = lock_tenant
        self.mirror = mirror  # what the loads read as the mirror (a run's planned one)

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
        for chunk in chunks(list(dict.fromkeys(scim_ids))):
            snapshots.update(self._load_user_chunk(tenant_id, self._keys(chunk)))
        return snapshots

    def _load_user_chunk(self, tenant_id: str, keys: KeySet) -> dict[str, UserSnapshot]:
        wanted = set(keys.ids)
        mu = self.mirror.users
        rows = self.conn.execute(
            select(*desired_user_columns(mu)).where(
                mu.c.tenant_id == tenant_id, keys.match(mu.c.id)
            )
        )
        desired = {row.id: desired_user_from_row(row) for row in rows if row.id in wanted}
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
                    select(mu.c.id, mu.c.email_ci).where(
                        mu.c.tenant_id == tenant_id, mu.c.id.in_(holder_users)
                    )
                )
                .tuples()
                .all()
            )
            if holder_users
            else {}
        )
        admins = self._active_admins_if_needed(
            tenant_id, [*linked.values(), *held.values()], emails
        )
        applied = self._applied_versions(tenant_id, "User", keys)
        drift: dict[str, int] = (
            dict(
                self.conn.execute(user_membership_drift(tenant_id, keys, self.mirror.group_members))
                .tuples()
                .all()
            )
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
                admins,
            )
        return snapshots

    def load_groups(self, tenant_id: str, scim_ids: Sequence[str]) -> dict[str, GroupSnapshot]:
        snapshots: dict[str, GroupSnapshot] = {}
        for ids in chunks(list(dict.fromkeys(scim_ids))):
            snapshots.update(self._load_group_chunk(tenant_id, self._keys(ids)))
        return snapshots

    def _load_group_chunk(self, tenant_id: str, keys: KeySet) -> dict[str, GroupSnapshot]:
        wanted = set(keys.ids)
        mg = self.mirror.groups
        rows = self.conn.execute(
            select(mg.c.id, mg.c.display_name, mg.c.version).where(
                mg.c.tenant_id == tenant_id, keys.match(mg.c.id)
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

    def _active_admins_if_needed(
        self, tenant_id: str, touched: Sequence[ActualMember], emails: set[str]
    ) -> frozenset[AdminSeat]:
        """The active admins, read only when a touched member may be one or a user carries
        the Owner's email (admins are few: a full reconcile's chunks rarely need this)."""
        owner_ci = self.conn.execute(
            select(func.lower(tenants.c.owner_email)).where(tenants.c.id == tenant_id)
        ).scalar()
        policy = TenantPolicy(tenant_id, owner_email=owner_ci)
        maybe_new_owner = owner_ci is not None and owner_ci in emails
        if not maybe_new_owner and not any(rules.is_admin(m, policy) for m in touched):
            return frozenset()
        is_admin: ColumnElement[bool] = _m.c.role.in_([r.value for r in rules.ADMIN_ROLES])
        if owner_ci is not None:
            is_admin = or_(is_admin, _m.c.email_ci == owner_ci)
        _u = self.mirror.users
        rows = self.conn.execute(
            select(_m.c.id, _m.c.role, _m.c.email_ci, _m.c.scim_user_id, _u.c.active)
            .select_from(
                _m.outerjoin(
                    _u, and_(_u.c.tenant_id == _m.c.tenant_id, _u.c.id == _m.c.scim_user_id)
                )
            )
            .where(_m.c.tenant_id == tenant_id, _m.c.status == MemberStatus.ACTIVE.value, is_admin)
        )
        return frozenset(
            AdminSeat(
                row.id,
                row.role == Role.OWNER.value or row.email_ci == owner_ci,
                row.scim_user_id is None or bool(row.active),
                row.scim_user_id,
            )
            for row in rows
        )

    def _members(
        self, tenant_id: str, condition: ColumnElement[bool], seen: dict[Any, ActualMember]
    ) -> list[ActualMember]:
        """The members matching the condition; a row already read (`seen`) is built once."""
        found = []
        for row in self.conn.execute(
            select(*MEMBER_COLUMNS).where(_m.c.tenant_id == tenant_id, condition)
        ):
            key = tuple(row)
            member = seen.get(key)
            if member is None:
                member = seen[key] = member_from_row(row)
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
        for some in chunks(prefixes, 250):  # SQLite parses an OR of n terms n levels deep
            query = select(_wg.c.name_ci).where(_wg.c.tenant_id == tenant_id, or_(*some))
            taken.update(self.conn.execute(query).scalars())
        return frozenset(taken)

    def _group_drift(self, tenant_id: str, group_ids: Sequence[str]) -> dict[str, int]:
        """Missing + extra SCIM memberships per group id (absent: in step)."""
        drift: Counter[str] = Counter()
        if group_ids:
            mgm = self.mirror.group_members
            missing = missing_in_groups(tenant_id, group_ids, mgm).subquery()
            count_missing = select(missing.c.group_id, func.count()).group_by(missing.c.group_id)
            drift.update(dict(self.conn.execute(count_missing).tuples().all()))
            count_extra = (
                select(_gm.c.group_id, func.count())
                .where(extra_in_groups(tenant_id, group_ids, mgm))
                .group_by(_gm.c.group_id)
            )
            drift.update(dict(self.conn.execute(count_extra).tuples().all()))
        return drift
