"""IdP dialects: one small module per identity provider, chosen by the tenant's `idp`.

`dialect_for(idp)` is the only entry point the routes need; see base.py for the
contract and each module's docstring for what that IdP actually sends.
"""

from __future__ import annotations

from events.ingest.dialects.base import Dialect
from events.ingest.dialects.entra import Entra
from events.ingest.dialects.generic import Generic
from events.ingest.dialects.google import Google
from events.ingest.dialects.jumpcloud import JumpCloud
from events.ingest.dialects.okta import Okta
from events.ingest.dialects.onelogin import OneLogin
from events.ingest.dialects.ping import Ping

__all__ = ["DIALECTS", "Dialect", "dialect_for"]

DIALECTS: dict[str, Dialect] = {
    d.idp: d for d in (Okta(), Entra(), Google(), JumpCloud(), OneLogin(), Ping(), Generic())
}


def dialect_for(idp: str) -> Dialect:
    """The tenant's dialect; an IdP we have no dialect for gets the generic one."""
    return DIALECTS.get(idp, DIALECTS["generic"])
