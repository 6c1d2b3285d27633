"""Revision 0003 rewrites names that broke the (SCIM) rule and fills display names.

A database at revision 0002 holds what earlier versions could make: a native group
faking the suffix, an IdP group numbered "(SCIM 2)", members without a name.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, select

from storage.db import make_engine
from storage.migrate import upgrade
from storage.schema import (
    audit_log,
    members,
    mirror_groups,
    mirror_users,
    tenants,
    workspace_groups,
)
from tests.conftest import EXTERNAL_DB, _drop_postgres_database, _fresh_postgres_database

NOW = datetime.now(UTC)
T = "t1"


@pytest.fixture
def old_database(tmp_path: Path) -> Iterator[str]:
    if EXTERNAL_DB:
        url = _fresh_postgres_database(EXTERNAL_DB)
        upgrade(url, "0002")
        yield url
        _drop_postgres_database(EXTERNAL_DB, url)
    else:
        url = f"sqlite:///{tmp_path / 'old.db'}"
        upgrade(url, "0002")
        yield url


def _seed(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(tenants).values(
                id=T, name="Acme", idp="okta", sso_domains=[], options={}, created_at=NOW
            )
        )

        def user(uid: str, resource: dict[str, object], display: str | None = None) -> None:
            conn.execute(
                insert(mirror_users).values(
                    tenant_id=T,
                    id=uid,
                    user_name=f"{uid}@acme.test",
                    user_name_ci=f"{uid}@acme.test",
                    display_name=display,
                    active=True,
                    has_password=False,
                    version=1,
                    created_at=NOW,
                    updated_at=NOW,
                    resource=resource,
                )
            )
            conn.execute(
                insert(members).values(
                    tenant_id=T,
                    id=f"m-{uid}",
                    email=f"{uid}@acme.test",
                    email_ci=f"{uid}@acme.test",
                    status="active",
                    role="member",
                    has_password=False,
                    scim_user_id=uid,
                    created_at=NOW,
                    updated_at=NOW,
                )
            )

        user("ann", {"name": {"givenName": "Ann", "familyName": "Berg"}})
        user("bob", {"name": {"formatted": "Mr Bob Ray", "givenName": "Bob"}})
        user("cy", {})
        for gid, name in (("g1", "Eng"), ("g2", "Eng"), ("g3", "Ops")):
            conn.execute(
                insert(mirror_groups).values(
                    tenant_id=T,
                    id=gid,
                    display_name=name,
                    display_name_ci=name.lower(),
                    version=1,
                    created_at=NOW,
                    updated_at=NOW,
                    resource={},
                )
            )
        rows = [
            ("w1", "Eng (SCIM)", "g1"),
            ("w2", "Eng (SCIM 2)", "g2"),  # a second IdP group named Eng
            ("w3", "Ops (SCIM 2)", "g3"),  # its "(SCIM)" name was faked by a native group
            ("w4", "Ops (SCIM)", None),
            ("w5", "Sales (scim)", None),
            ("w6", "Sales", None),
        ]
        for n, (wid, name, scim) in enumerate(rows):
            conn.execute(
                insert(workspace_groups).values(
                    tenant_id=T,
                    id=wid,
                    name=name,
                    name_ci=name.lower(),
                    scim_group_id=scim,
                    created_at=datetime(2026, 1, 1 + n, tzinfo=UTC),
                )
            )


def test_finding_4_existing_names_are_migrated_so_scim_2_never_appears(old_database: str) -> None:
    engine = make_engine(old_database)
    try:
        _seed(engine)
        upgrade(old_database)
        with engine.connect() as conn:
            names = dict(
                conn.execute(select(workspace_groups.c.id, workspace_groups.c.name)).tuples().all()
            )
            shown = dict(conn.execute(select(members.c.id, members.c.display_name)).tuples().all())
            formatted = dict(
                conn.execute(select(mirror_users.c.id, mirror_users.c.formatted_name))
                .tuples()
                .all()
            )
            audited = conn.execute(
                select(audit_log.c.target).where(audit_log.c.actor == "migration")
            ).scalars()
            audited_targets = sorted(audited)
    finally:
        engine.dispose()
    assert names == {
        "w1": "Eng (SCIM)",
        "w2": "Eng [g2] (SCIM)",  # two IdP groups named Eng: refused until one is renamed
        "w3": "Ops (SCIM)",
        "w4": "Ops",
        "w5": "Sales (renamed)",
        "w6": "Sales",
    }
    assert not any("(SCIM 2)" in name for name in names.values())
    assert shown == {"m-ann": "Ann Berg", "m-bob": "Mr Bob Ray", "m-cy": "cy@acme.test"}
    assert formatted == {"ann": None, "bob": "Mr Bob Ray", "cy": None}
    assert audited_targets == [f"group:{w}" for w in ("w2", "w3", "w4", "w5")]
