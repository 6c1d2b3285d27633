"""OneLogin (SCIM Provisioner with SAML, SCIM v2 Core or Enterprise).

OneLogin's deprovisioning action can be "Suspend" rather than "Delete". Then a user
deleted in OneLogin stays here, deactivated; if the person later comes back (a
new OneLogin user with the same username, or the app re-assigned), OneLogin does
not know our id any more and POSTs the user again. A strict server answers 409
and provisioning is stuck until an admin intervenes. The intent is unambiguous,
so a POST whose userName matches a *deactivated* user reactivates that user with
the new body (same id, every workspace membership and permission intact: rule 4)
and answers 201. A POST matching an *active* user is still a 409: that may be a
real clash between two people.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from events.ingest.dialects.base import Body, Dialect
from events.ingest.dialects.lookup import find_user
from events.ingest.writes import WriteResult
from storage.projection import attribute
from storage.tenants import Tenant


class OneLogin(Dialect):
    idp = "onelogin"

    def create_user(
        self, conn: Connection, tenant: Tenant, body: Body, now: datetime, **options: Any
    ) -> WriteResult:
        user_name = attribute(body, "userName")
        existing = (
            find_user(conn, tenant.id, "userName", user_name)
            if isinstance(user_name, str)
            else None
        )
        if existing is None or existing.resource.get("active", True) is not False:
            return super().create_user(conn, tenant, body, now, **options)
        revived = {**body, "active": True} if attribute(body, "active") is None else body
        return self.replace_user(conn, tenant, existing.id, revived, now, **options)
