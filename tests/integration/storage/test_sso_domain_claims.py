"""An SSO domain belongs to one workspace even when two are created at once: the check
and the write of one are not interleaved with another's (an advisory lock on PostgreSQL,
the single writer on SQLite)."""

from __future__ import annotations

import threading
import time
from typing import Any

from sqlalchemy import select

from reconciler import workspaces
from reconciler.errors import RuleRefusal
from storage.schema import tenants
from storage.workspace.admin_store import admin_unit_of_work


def test_two_workspaces_created_at_once_cannot_both_take_a_domain(engine: Any) -> None:
    checked = threading.Event()
    outcomes: dict[str, str] = {}

    def first() -> None:
        with admin_unit_of_work(engine) as store:
            workspaces.check_domains_free(store, ["race.test"])
            checked.set()
            time.sleep(0.5)  # the second create runs its check now
            store.create_workspace(
                name="First", idp="generic", sso_domains=["race.test"], owner_email=None
            )
        outcomes["first"] = "created"

    def second() -> None:
        checked.wait(10)
        try:
            with admin_unit_of_work(engine) as store:
                workspaces.create_workspace(
                    store,
                    name="Second",
                    sso_domains=["race.test"],
                    idp="generic",
                    owner_email=None,
                    actor="test",
                )
            outcomes["second"] = "created"
        except RuleRefusal as refusal:
            outcomes["second"] = refusal.code

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert outcomes == {"first": "created", "second": "sso_domain_taken"}
    with engine.connect() as conn:
        assert conn.execute(select(tenants.c.name)).scalars().all() == ["First"]
