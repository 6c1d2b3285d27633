"""Google Workspace (automated user provisioning of a custom SAML app).

Google provisions users only (docs/architecture.md rule 10). Group writes are refused by the
ingest service for every `google` tenant with the rule's SCIM error, so nothing
reaches the mirror; group reads answer an empty list, which is the truth.
Google's first call is a probe, `GET /Users?count=1`; suspension arrives as
`active: false`, a deletion as DELETE, depending on the deprovisioning settings
chosen in the Admin console. None of that needs translating.
"""

from __future__ import annotations

from events.ingest.dialects.base import Dialect


class Google(Dialect):
    idp = "google"
