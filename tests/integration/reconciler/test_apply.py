"""apply_resources and the SSO-removal cascade on real SQL (SQLite and PostgreSQL).

The mirror is written directly (as the ingest would leave it); the workspace is
read back as an admin would see it: members by email, groups by name,
memberships, permissions, open invitations, the audit log.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, delete, func, insert, select, update

from reconciler import sso
from reconciler.model import ApplyOutcome, MemberStatus, ResourceKey
from storage.db import unit_of_work
from storage.schema import (
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
from storage.workspace.admin_store import SqlAdminStore
from storage.workspace.apply import apply_resources
from storage.workspace.reads import count_billable_members, list_members

NOW = datetime.now(UTC)
OWNER = "boss@acme.test"

# --- set-up helpers ----------------------------------------------------------------------


def make_tenant(engine: Engine, *, idp: str = "okta", scim: bool = True) -> str:
    tenant_id = uuid.uuid4().hex
    with unit_of_work(engine) as conn:
        conn.execute(
            insert(tenants).values(
                id=tenant_id,
                name="Acme",
                idp=idp,
                sso_domains=["Acme.test"],
                sso_configured=True,
                scim_enabled=scim,
                owner_email=OWNER,
                options={},
                created_at=NOW,
            )
        )
        add_member(conn, tenant_id, OWNER, role="owner", password=True)
    return tenant_id


def add_member(
    conn: Connection,
    tenant_id: str,
    email: str,
    *,
    status: str = "active",
    role: str = "member",
    password: bool = False,
    scim: str | None = None,
) -> str:
    member_id = uuid.uuid4().hex
    conn.execute(
        insert(members).values(
            tenant_id=tenant_id,
            id=member_id,
            email=email,
            email_ci=email.lower(),
            status=status,
            role=role,
            has_password=password,
            scim_user_id=scim,
            created_at=NOW,
            updated_at=NOW,
        )
    )
    return member_id


def add_native_group(
    conn: Connection,
    tenant_id: str,
    name: str,
    member_ids: Iterable[str],
    permissions: dict[str, str] | None = None,
) -> str:
    group_id = uuid.uuid4().hex
    conn.execute(
        insert(workspace_groups).values(
            tenant_id=tenant_id, id=group_id, name=name, name_ci=name.lower(), created_at=NOW
        )
    )
    for member_id in member_ids:
        conn.execute(
            insert(group_memberships).values(
                tenant_id=tenant_id,
                group_id=group_id,
                member_id=member_id,
                source="native",
                created_at=NOW,
            )
        )
    for path, access in (permissions or {}).items():
        conn.execute(
            insert(group_permissions).values(
                tenant_id=tenant_id, group_id=group_id, path=path, access=access
            )
        )
    return group_id


class Mirror:
    """Writes the IdP's view as the ingest leaves it, one version more per write."""

    def __init__(self, engine: Engine, tenant_id: str):
        self.engine, self.tenant_id = engine, tenant_id
        self.versions: dict[ResourceKey, int] = {}

    def _bump(self, key: ResourceKey) -> int:
        self.versions[key] = self.versions.get(key, 0) + 1
        return self.versions[key]

    def user(
        self,
        scim_id: str,
        email: str | None,
        *,
        active: bool = True,
        name: str | None = None,
        password: bool = False,
    ) -> ResourceKey:
        key: ResourceKey = ("User", scim_id)
        user_name = f"{scim_id}-login"  # not an address: the email comes from email_ci
        values: dict[str, Any] = dict(
            user_name=user_name,
            user_name_ci=user_name.lower(),
            email_ci=email.lower() if email else None,
            display_name=name,
            active=active,
            has_password=password,
            version=self._bump(key),
            updated_at=NOW,
            resource={},
        )
        with unit_of_work(self.engine) as conn:
            done = conn.execute(
                update(mirror_users)
                .where(mirror_users.c.tenant_id == self.tenant_id, mirror_users.c.id == scim_id)
                .values(**values)
            ).rowcount
            if not done:
                conn.execute(
                    insert(mirror_users).values(
                        tenant_id=self.tenant_id, id=scim_id, created_at=NOW, **values
                    )
                )
        return key

    def group(self, scim_id: str, name: str, member_ids: Iterable[str] = ()) -> ResourceKey:
        key: ResourceKey = ("Group", scim_id)
        with unit_of_work(self.engine) as conn:
            self._delete(conn, mirror_groups, scim_id)
            conn.execute(
                insert(mirror_groups).values(
                    tenant_id=self.tenant_id,
                    id=scim_id,
                    display_name=name,
                    display_name_ci=name.lower(),
                    version=self._bump(key),
                    created_at=NOW,
                    updated_at=NOW,
                    resource={},
                )
            )
            rows = [
                dict(tenant_id=self.tenant_id, group_id=scim_id, member_id=m, member_type="User")
                for m in member_ids
            ]
            if rows:
                conn.execute(insert(mirror_group_members), rows)
        return key

    def delete_user(self, scim_id: str) -> ResourceKey:
        with unit_of_work(self.engine) as conn:
            conn.execute(
                delete(mirror_group_members).where(
                    mirror_group_members.c.tenant_id == self.tenant_id,
                    mirror_group_members.c.member_id == scim_id,
                )
            )
            self._delete(conn, mirror_users, scim_id)
        return ("User", scim_id)

    def delete_group(self, scim_id: str) -> ResourceKey:
        with unit_of_work(self.engine) as conn:
            self._delete(conn, mirror_groups, scim_id)
        return ("Group", scim_id)

    def _delete(self, conn: Connection, table: Any, scim_id: str) -> None:
        if table is mirror_groups:
            conn.execute(
                delete(mirror_group_members).where(
                    mirror_group_members.c.tenant_id == self.tenant_id,
                    mirror_group_members.c.group_id == scim_id,
                )
            )
        conn.execute(
            delete(table).where(table.c.tenant_id == self.tenant_id, table.c.id == scim_id)
        )


def apply(engine: Engine, tenant_id: str, keys: Sequence[ResourceKey]) -> ApplyOutcome:
    with unit_of_work(engine) as conn:
        return apply_resources(conn, tenant_id, keys)


# --- reading the workspace back -----------------------------------------------------------


def member_rows(engine: Engine, tenant_id: str) -> dict[str, Any]:
    with engine.connect() as conn:
        rows = conn.execute(select(members).where(members.c.tenant_id == tenant_id)).all()
    return {row.email_ci: row for row in rows}


def group_names(engine: Engine, tenant_id: str) -> dict[str | None, str]:
    """Workspace group names by scim_group_id (None: native)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(workspace_groups.c.scim_group_id, workspace_groups.c.name).where(
                workspace_groups.c.tenant_id == tenant_id
            )
        ).all()
    return dict(rows)  # type: ignore[arg-type]


def memberships(engine: Engine, tenant_id: str) -> set[tuple[str, str, str]]:
    """(group name, member email, source)."""
    gm, wg, m = group_memberships, workspace_groups, members
    with engine.connect() as conn:
        rows = conn.execute(
            select(wg.c.name, m.c.email_ci, gm.c.source)
            .join(wg, (wg.c.tenant_id == gm.c.tenant_id) & (wg.c.id == gm.c.group_id))
            .join(m, (m.c.tenant_id == gm.c.tenant_id) & (m.c.id == gm.c.member_id))
            .where(gm.c.tenant_id == tenant_id)
        ).all()
    return {tuple(row) for row in rows}  # type: ignore[misc]


def permissions(engine: Engine, tenant_id: str) -> set[tuple[str, str, str]]:
    wg, gp = workspace_groups, group_permissions
    with engine.connect() as conn:
        on_group = (wg.c.tenant_id == gp.c.tenant_id) & (wg.c.id == gp.c.group_id)
        rows = conn.execute(
            select(wg.c.name, gp.c.path, gp.c.access)
            .join(wg, on_group)
            .where(gp.c.tenant_id == tenant_id)
        ).all()
    return {tuple(row) for row in rows}  # type: ignore[misc]


def open_invitations(engine: Engine, tenant_id: str) -> list[str]:
    with engine.connect() as conn:
        return sorted(
            conn.execute(
                select(invitations.c.email).where(
                    invitations.c.tenant_id == tenant_id, invitations.c.accepted_at.is_(None)
                )
            ).scalars()
        )


def audit_actions(engine: Engine, tenant_id: str) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(audit_log.c.action)
                .where(audit_log.c.tenant_id == tenant_id)
                .order_by(audit_log.c.id)
            ).scalars()
        )


def state(engine: Engine, tenant_id: str) -> dict[str, Any]:
    """Everything a person would notice, free of generated ids."""
    return {
        "members": {
            (e, r.status, r.status_before_deactivation, r.scim_user_id, r.role)
            for e, r in member_rows(engine, tenant_id).items()
        },
        "groups": set(group_names(engine, tenant_id).items()),
        "memberships": memberships(engine, tenant_id),
        "permissions": permissions(engine, tenant_id),
        "invited": set(open_invitations(engine, tenant_id)),
    }


@pytest.fixture
def tenant(engine: Engine) -> str:
    return make_tenant(engine)


@pytest.fixture
def mirror(engine: Engine, tenant: str) -> Mirror:
    return Mirror(engine, tenant)


# --- the rules, end to end ------------------------------------------------------------------


def test_rule_01_a_tenant_without_scim_applies_nothing(engine: Engine) -> None:
    tenant_id = make_tenant(engine, scim=False)
    key = Mirror(engine, tenant_id).user("u1", "ann@acme.test")
    outcome = apply(engine, tenant_id, [key])
    assert outcome.violations[key].code == "scim_disabled"
    assert set(member_rows(engine, tenant_id)) == {OWNER}


def test_rule_02_scim_user_links_to_the_native_member_with_its_email(
    engine: Engine, tenant: str, mirror: Mirror
) -> None:
    with unit_of_work(engine) as conn:
        ann = add_member(conn, tenant, "Ann@Acme.test", password=True)
        add_native_group(conn, tenant, "Design", [ann], {"/design": "write"})
    outcome = apply(engine, tenant, [mirror.user("u1", "ann@ACME.test", name="Ann")])
    assert outcome.counts["link_member"] == 1 and "create_member" not in outcome.counts
    rows = member_rows(engine, tenant)
    assert set(rows) == {OWNER, "ann@acme.test"}  # no duplicate
    assert rows["ann@acme.test"].id == ann and rows["ann@acme.test"].scim_user_id == "u1"
    assert rows["ann@acme.test"].has_password  # the workspace password stays
    assert memberships(engine, tenant) == {("Design", "ann@acme.test", "native")}


def test_rule_03_new_members_are_active_in_sso_domains_else_pending_and_invited(
    engine: Engine, tenant: str, mirror: Mirror
) -> None:
    keys = [mirror.user("u1", "in@ACME.test"), mirror.user("u2", "out@partner.test")]
    apply(engine, tenant, keys)
    rows = member_rows(engine, tenant)
    assert rows["in@acme.test"].status == "active"
    assert rows["out@partner.test"].status == "pending"
    assert open_invitations(engine, tenant) == ["out@partner.test"]


def test_rule_04_deactivation_keeps_memberships_and_permissions(
    engine: Engine, tenant: str, mirror: Mirror
) -> None:
    keys = [mirror.user("u1", "ann@acme.test"), mirror.user("u2", "bob@partner.test")]
    keys.append(mirror.group("g1", "Eng", ["u1", "u2"]))
    apply(engine, tenant, keys)
    with unit_of_work(engine) as conn:
        ann = member_rows(engine, tenant)["ann@acme.test"].id
        add_native_group(conn, tenant, "Design", [ann], {"/design": "read"})
        wg = workspace_groups
        eng = conn.execute(select(wg.c.id).where(wg.c.scim_group_id == "g1")).scalar_one()
        conn.execute(
            insert(group_permissions).values(
                tenant_id=tenant, group_id=eng, path="/eng", access="write"
            )
        )
    before = (memberships(engine, tenant), permissions(engine, tenant))

    apply(
        engine,
        tenant,
        [
            mirror.user("u1", "ann@acme.test", active=False),
            mirror.user("u2", "bob@partner.test", active=False),
        ],
    )
    rows = member_rows(engine, tenant)
    assert (rows["ann@acme.test"].status, rows["ann@acme.test"].status_before_deactivation) == (
        "deactivated",
        "active",
    )
    assert rows["bob@partner.test"].status_before_deactivation == "pending"
    assert (memberships(engine, tenant), permissions(engine, tenant)) == before
    with engine.connect() as conn:
        assert count_billable_members(conn, tenant) == 1  # the Owner only

    apply(
        engine, tenant, [mirror.user("u1", "ann@acme.test"), mirror.user("u2", "bob@partner.test")]
    )
    rows = member_rows(engine, tenant)
    assert rows["ann@acme.test"].status == "active"
    assert rows["bob@partner.test"].status == "pending"
    assert open_invitations(engine, tenant) == ["bob@partner.test"]  # still the one invitation
    assert (memberships(engine, tenant), permissions(engine, tenant)) == before


def test_rule_05_idp_delete_removes_the_member_but_never_the_owner(
    engine: Engine, tenant: str, mirror: Mirror
) -> None:
    keys = [mirror.user("u1", "out@partner.test"), mirror.user("u0", OWNER)]
    apply(engine, tenant, [*keys, mirror.group("g1", "Eng", ["u1", "u0"])])
    assert member_rows(engine, tenant)[OWNER].scim_user_id == "u0"

    deleted = [mirror.delete_user("u1"), mirror.delete_user("u0")]
    outcome = apply(engine, tenant, deleted)
    rows = member_rows(engine, tenant)
    assert set(rows) == {OWNER}
    assert rows[OWNER].status == "active" and rows[OWNER].scim_user_id is None
    assert open_invitations(engine, tenant) == []  # the deleted member's invitation went too
    assert memberships(engine, tenant) == set()  # the group sync follows the unlinked Owner
    assert [(r.code, r.scim_user_id) for r in outcome.refusals] == [("owner_protected", "u0")]
    assert "refusal" in audit_actions(engine, tenant)
    assert outcome.applied == [(("User", "u1"), 0), (("User", "u0"), 0)]
    with engine.connect() as conn:
        assert (
            conn.execute(
                select(func.count())
                .select_from(applied_versions)
                .where(
                    applied_versions.c.tenant_id == tenant,
                    applied_versions.c.resource_type == "User",
                )
            ).scalar_one()
            == 0
        )

    audit_before = audit_actions(engine, tenant)
    again = apply(engine, tenant, deleted)
    assert again.counts == {} and again.refusals == []  # no drift for the Owner afterwards
    assert audit_actions(engine, tenant) == audit_before


def test_deactivating_the_last_active_admin_is_refused_once(
    engine: Engine, tenant: str, mirror: Mirror
) -> None:
    apply(engine, tenant, [mirror.user("u0", OWNER)])
    key = mirror.user("u0", OWNER, active=False)
    first = apply(engine, tenant, [key])
    assert [r.code for r in first.refusals] == ["last_admin"]
    assert member_rows(engine, tenant)[OWNER].status == "active"
    again = apply(engine, tenant, [key])
    assert again.counts == {} and again.refusals == []


def test_finding_3_the_idp_deactivates_the_owner_while_another_admin_is_active(
    engine: Engine, tenant: str, mirror: Mirror
) -> None:
    with unit_of_work(engine) as conn:
        add_member(conn, tenant, "admin@acme.test", role="admin", password=True)
    apply(engine, tenant, [mirror.user("u0", OWNER), mirror.user("u9", "admin@acme.test")])
    owner_off = apply(engine, tenant, [mirror.user("u0", OWNER, active=False)])
    assert owner_off.refusals == []
    assert member_rows(engine, tenant)[OWNER].status == "deactivated"
    admin_off = apply(engine, tenant, [mirror.user("u9", "admin@acme.test", active=False)])
    assert [r.code for r in admin_off.refusals] == ["last_admin"]  # someone must log in
    assert member_rows(engine, tenant)["admin@acme.test"].status == "active"
    with unit_of_work(engine) as conn:
        sso.remove_sso(SqlAdminStore(conn), tenant_id=tenant, actor="cli")
    rows = member_rows(engine, tenant)  # the cascade keeps the deactivated Owner
    assert (rows[OWNER].status, rows["admin@acme.test"].status) == ("deactivated", "active")


def test_two_admins_deactivated_in_one_batch_keep_the_owner_whatever_the_order(
    engine: Engine, tenant: str, mirror: Mirror
) -> None:
    with unit_of_work(engine) as conn:
        add_member(conn, tenant, "admin@acme.test", role="admin", password=True)
    apply(engine, tenant, [mirror.user("u0", OWNER), mirror.user("u9", "admin@acme.test")])
    both_off = [
        mirror.user("u9", "admin@acme.test", active=False),
        mirror.user("u0", OWNER, active=False),
    ]
    outcome = apply(engine, tenant, both_off)
    rows = member_rows(engine, tenant)
    assert (rows[OWNER].status, rows["admin@acme.test"].status) == ("active", "deactivated")
    assert [r.code for r in outcome.refusals] == ["last_admin"]


def test_rule_07_scim_groups_naming_renames_and_deletes(
    engine: Engine, tenant: str, mirror: Mirror
) -> None:
    apply(engine, tenant, [mirror.user("u1", "ann@acme.test")])
    with unit_of_work(engine) as conn:
        ann = member_rows(engine, tenant)["ann@acme.test"].id
        add_native_group(conn, tenant, "Design", [ann], {"/design": "read"})
    apply(engine, tenant, [mirror.group("g1", "Eng", ["u1"])])
    # The mirror holds one group per name; the workspace still meets a clash when g2 takes
    # g1's old name before g1's rename is applied.
    renamed = mirror.group("g1", "Engineering", ["u1"])
    clash = apply(engine, tenant, [mirror.group("g2", "eng", ["u1"])])
    assert clash.violations[("Group", "g2")].code == "group_name_taken"  # finding 4
    assert group_names(engine, tenant) == {None: "Design", "g1": "Eng (SCIM)"}

    apply(engine, tenant, [renamed])
    assert group_names(engine, tenant)["g1"] == "Engineering (SCIM)"
    apply(engine, tenant, [mirror.group("g2", "eng", ["u1"])])  # the name is free now
    assert group_names(engine, tenant)["g2"] == "eng (SCIM)"

    outcome = apply(engine, tenant, [mirror.delete_group("g2"), mirror.delete_group("g1")])
    assert outcome.counts["delete_group"] == 2
    assert group_names(engine, tenant) == {None: "Design"}
    assert memberships(engine, tenant) == {("Design", "ann@acme.test", "native")}
    assert permissions(engine, tenant) == {("Design", "/design", "read")}


def test_rule_08_and_09_billing_and_member_tabs(
    engine: Engine, tenant: str, mirror: Mirror
) -> None:
    keys = [
        mirror.user("u1", "a@acme.test"),
        mirror.user("u2", "b@partner.test"),
        mirror.user("u3", "c@acme.test", active=False),
    ]
    apply(engine, tenant, keys)
    with engine.connect() as conn:
        assert count_billable_members(conn, tenant) == 2  # the Owner and a@
        tabs = {s: [m.email for m in list_members(conn, tenant, s)] for s in MemberStatus}
    assert tabs == {
        MemberStatus.ACTIVE: ["a@acme.test", OWNER],
        MemberStatus.PENDING: ["b@partner.test"],
        MemberStatus.DEACTIVATED: ["c@acme.test"],
    }


def test_rule_10_google_tenants_refuse_groups(engine: Engine) -> None:
    tenant_id = make_tenant(engine, idp="google")
    mirror = Mirror(engine, tenant_id)
    keys = [mirror.user("u1", "a@acme.test"), mirror.group("g1", "Eng", ["u1"])]
    outcome = apply(engine, tenant_id, keys)
    assert outcome.violations[("Group", "g1")].code == "groups_not_supported"
    assert [key for key, _ in outcome.applied] == [("User", "u1")]
    assert group_names(engine, tenant_id) == {}


def test_rule_11_sso_removal_cascade_row_by_row(
    engine: Engine, tenant: str, mirror: Mirror
) -> None:
    keys = [
        mirror.user("u1", "nopw@acme.test"),
        mirror.user("u2", "pw@acme.test", password=True),
        mirror.user("u3", "off@acme.test", active=False),
        mirror.user("u4", "ext@partner.test"),
        mirror.user("u0", OWNER),
    ]
    keys.append(mirror.group("g1", "Eng", ["u1", "u2", "u3"]))
    apply(engine, tenant, keys)
    with unit_of_work(engine) as conn:
        native = add_member(conn, tenant, "native@acme.test")
        add_member(conn, tenant, "gone@acme.test", status="deactivated")
        pw = member_rows(engine, tenant)["pw@acme.test"].id
        add_native_group(conn, tenant, "Design", [native, pw], {"/design": "read"})
        for kind in ("scim", "admin"):
            conn.execute(
                insert(api_tokens).values(
                    id=uuid.uuid4().hex,
                    tenant_id=tenant,
                    kind=kind,
                    token_hash=uuid.uuid4().hex,
                    created_at=NOW,
                )
            )
    with unit_of_work(engine) as conn:
        report = sso.remove_sso(SqlAdminStore(conn), tenant_id=tenant, actor="cli")

    rows = member_rows(engine, tenant)
    assert set(rows) == {
        OWNER,
        "nopw@acme.test",
        "pw@acme.test",
        "ext@partner.test",
        "native@acme.test",
    }  # both deactivated members are gone
    assert [(e, r.status, r.scim_user_id) for e, r in sorted(rows.items())] == [
        (OWNER, "active", None),
        ("ext@partner.test", "pending", None),  # pending SCIM member: stays pending, unlinked
        ("native@acme.test", "active", None),
        ("nopw@acme.test", "pending", None),  # no password: pending, needs a new invitation
        ("pw@acme.test", "active", None),  # a password: keeps working
    ]
    # ext@ has the invitation its creation opened; nopw@'s is the admin's to send
    assert open_invitations(engine, tenant) == ["ext@partner.test"]
    assert group_names(engine, tenant) == {None: "Design"}
    assert memberships(engine, tenant) == {
        ("Design", "native@acme.test", "native"),
        ("Design", "pw@acme.test", "native"),
    }
    assert report.counts["delete_group"] == 1 and report.counts["delete_member"] == 2
    assert report.tokens_revoked == 1
    with engine.connect() as conn:
        policy = conn.execute(select(tenants).where(tenants.c.id == tenant)).one()
        revoked = dict(
            conn.execute(
                select(api_tokens.c.kind, api_tokens.c.revoked_at).where(
                    api_tokens.c.tenant_id == tenant
                )
            )
            .tuples()
            .all()
        )
    assert not policy.sso_configured and not policy.scim_enabled
    assert revoked["scim"] is not None and revoked["admin"] is None
    # Late events for the old SCIM users no longer re-link anyone.
    late = apply(engine, tenant, [("User", "u1")])
    assert late.violations[("User", "u1")].code == "scim_disabled"


# --- level-triggered: duplicates, order, batches --------------------------------------------


def test_a_user_without_email_is_a_violation_not_a_crash(
    engine: Engine, tenant: str, mirror: Mirror
) -> None:
    outcome = apply(engine, tenant, [mirror.user("u1", None), mirror.user("u2", "b@acme.test")])
    assert outcome.violations[("User", "u1")].code == "no_email"
    assert "b@acme.test" in member_rows(engine, tenant)


def test_applying_twice_is_applying_once(engine: Engine, tenant: str, mirror: Mirror) -> None:
    keys = [mirror.user(f"u{i}", f"p{i}@acme.test") for i in range(5)]
    keys.append(mirror.group("g1", "Eng", [f"u{i}" for i in range(5)]))
    first = apply(engine, tenant, keys)
    assert first.memberships_added == 5
    before, audit_before = state(engine, tenant), audit_actions(engine, tenant)
    second = apply(engine, tenant, keys + keys)
    assert second.counts == {} and second.memberships_added == second.memberships_removed == 0
    assert state(engine, tenant) == before and audit_actions(engine, tenant) == audit_before
    assert sorted(second.applied) == sorted(first.applied)


def test_a_group_applied_before_its_users_converges(
    engine: Engine, tenant: str, mirror: Mirror
) -> None:
    group = mirror.group("g1", "Eng", ["u1", "u2"])
    users = [mirror.user("u1", "a@acme.test"), mirror.user("u2", "b@acme.test")]
    apply(engine, tenant, [group])
    assert memberships(engine, tenant) == set()  # nobody to add yet
    apply(engine, tenant, users)
    assert memberships(engine, tenant) == {
        ("Eng (SCIM)", "a@acme.test", "scim"),
        ("Eng (SCIM)", "b@acme.test", "scim"),
    }
    apply(engine, tenant, [mirror.group("g1", "Eng", ["u2"])])
    assert memberships(engine, tenant) == {("Eng (SCIM)", "b@acme.test", "scim")}


def test_an_email_moving_between_users_in_one_batch(
    engine: Engine, tenant: str, mirror: Mirror
) -> None:
    apply(engine, tenant, [mirror.user("u1", "a@acme.test"), mirror.group("g1", "Eng", ["u1"])])
    # The IdP deletes u1 and creates u2 with the same address, the new key first.
    keys = [mirror.user("u2", "a@acme.test"), mirror.delete_user("u1")]
    outcome = apply(engine, tenant, keys)
    assert not outcome.violations
    rows = member_rows(engine, tenant)
    assert rows["a@acme.test"].scim_user_id == "u2"
    assert memberships(engine, tenant) == set()  # u1's SCIM membership left with its member


EMAILS = ["a@acme.test", "b@acme.test", "c@partner.test", "d@acme.test", OWNER]
USERS = [f"u{i}" for i in range(5)]
GROUPS = ["g0", "g1", "g2"]


IdpState = tuple[dict[str, tuple[str, bool]], dict[str, tuple[str, list[str]]]]


@st.composite
def idp_states(draw: st.DrawFn) -> IdpState:
    """Users (email unique, active) and groups (name, members), any subset present. Group names
    never clash across groups: clashing names are first come, first served by design."""
    emails = draw(st.permutations(EMAILS))
    users = {
        u: (emails[i], draw(st.booleans())) for i, u in enumerate(USERS) if draw(st.booleans())
    }
    groups = {
        g: (
            f"{g.upper()}-{draw(st.sampled_from('ab'))}",
            draw(st.lists(st.sampled_from(USERS), unique=True)),
        )
        for g in GROUPS
        if draw(st.booleans())
    }
    return users, groups


def write_idp_state(mirror: Mirror, idp: tuple[dict[str, Any], dict[str, Any]]) -> None:
    users, groups = idp
    for scim_id in USERS:
        if scim_id in users:
            email, active = users[scim_id]
            mirror.user(scim_id, email, active=active)
        else:
            mirror.delete_user(scim_id)
    for scim_id in GROUPS:
        if scim_id in groups:
            name, member_ids = groups[scim_id]
            mirror.group(scim_id, name, [m for m in member_ids if m in users])
        else:
            mirror.delete_group(scim_id)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(before=idp_states(), after=idp_states(), data=st.data())
def test_any_order_duplicates_and_batching_converge_to_the_in_order_result(
    engine: Engine, before: Any, after: Any, data: st.DataObject
) -> None:
    note(f"before={before!r}\nafter={after!r}")
    keys: list[ResourceKey] = [("User", u) for u in USERS] + [("Group", g) for g in GROUPS]
    shuffled = data.draw(
        st.permutations(keys + data.draw(st.lists(st.sampled_from(keys), max_size=4)))
    )
    cuts = sorted(data.draw(st.sets(st.integers(1, len(shuffled) - 1), max_size=3)))
    results = []
    for order, batches in ((keys, [0]), (shuffled, [0, *cuts])):
        tenant_id = make_tenant(engine)
        with unit_of_work(engine) as conn:
            add_native_group(conn, tenant_id, "Design", [], {"/design": "read"})
            add_member(conn, tenant_id, "c@partner.test", status="pending")  # native, linkable
        mirror = Mirror(engine, tenant_id)
        write_idp_state(mirror, before)
        apply(engine, tenant_id, keys)  # the same starting workspace
        write_idp_state(mirror, after)
        for start, end in zip(batches, [*batches[1:], len(order)], strict=True):
            apply(engine, tenant_id, order[start:end])
        results.append(state(engine, tenant_id))
        assert apply(engine, tenant_id, keys).counts == {}  # a fixed point: no drift left
    assert results[0] == results[1]


# --- scale ---------------------------------------------------------------------------------


def test_a_50000_member_group_syncs_set_based(engine: Engine, tenant: str) -> None:
    size = 50_000
    with unit_of_work(engine) as conn:
        conn.execute(
            insert(members),
            [
                dict(
                    tenant_id=tenant,
                    id=f"m{i}",
                    email=f"p{i}@acme.test",
                    email_ci=f"p{i}@acme.test",
                    status="active",
                    role="member",
                    has_password=False,
                    scim_user_id=f"u{i}",
                    created_at=NOW,
                    updated_at=NOW,
                )
                for i in range(size)
            ],
        )
        design = add_native_group(conn, tenant, "Design", ["m7", "m49999"])
    mirror = Mirror(engine, tenant)
    key = mirror.group("big", "Everyone", [f"u{i}" for i in range(size)])

    first = apply(engine, tenant, [key])
    assert first.memberships_added == size

    # 1,000 leave, 1,000 join who were never members (they exist in the workspace).
    with unit_of_work(engine) as conn:
        conn.execute(
            insert(members),
            [
                dict(
                    tenant_id=tenant,
                    id=f"n{i}",
                    email=f"n{i}@acme.test",
                    email_ci=f"n{i}@acme.test",
                    status="active",
                    role="member",
                    has_password=False,
                    scim_user_id=f"v{i}",
                    created_at=NOW,
                    updated_at=NOW,
                )
                for i in range(1000)
            ],
        )
    key = mirror.group(
        "big", "Everyone", [f"u{i}" for i in range(1000, size)] + [f"v{i}" for i in range(1000)]
    )
    second = apply(engine, tenant, [key])
    assert (second.memberships_added, second.memberships_removed) == (1000, 1000)
    with engine.connect() as conn:
        counts: dict[str, int] = dict(
            conn.execute(
                select(group_memberships.c.source, func.count())
                .where(group_memberships.c.tenant_id == tenant)
                .group_by(group_memberships.c.source)
            )
            .tuples()
            .all()
        )
        in_design = set(
            conn.execute(
                select(group_memberships.c.member_id).where(group_memberships.c.group_id == design)
            ).scalars()
        )
    assert counts == {"scim": size, "native": 2}
    assert in_design == {"m7", "m49999"}  # native memberships of SCIM members untouched
    assert apply(engine, tenant, [key]).memberships_added == 0
