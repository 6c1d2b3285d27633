"""The one id maker: every id the service mints (tenants, tokens, mirror resources,
members, groups, invitations) has the same shape, a UUID4 in its canonical text form."""

from __future__ import annotations

import uuid


def new_id() -> str:
    return str(uuid.uuid4())
