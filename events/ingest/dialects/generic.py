"""Any other SCIM 2.0 client: the RFCs as the validators and the PATCH engine accept them.

The behaviour shared by every dialect lives in events/ingest/dialects/base.py; this
module only names it, so `idp = "generic"` tenants get exactly that.
"""

from __future__ import annotations

from events.ingest.dialects.base import Dialect


class Generic(Dialect):
    idp = "generic"
