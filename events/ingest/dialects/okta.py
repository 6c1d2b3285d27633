"""Okta (the SCIM 2.0 provisioning integration, "SCIM 2.0 Test App" or an OIN app).

What Okta sends that a strict server would trip on, and where it is handled:
- `password` in POST and PUT when password sync is on: validated, remembered as
  "has a password", never stored (events/scim/resources.py);
- `"groups": []` in POST /Users: no information; a non-empty list becomes
  membership adds (the base dialect);
- a no-path `replace` carrying `id` with `displayName` to rename a group, and
  `{"active": false}` without a path to deactivate: the PATCH engine;
- `members[value eq "..."]` removals and `count=100` paging: the PATCH engine and
  the list routes.

Okta decides a user's state from `active` in GET responses, so users always show it.
"""

from __future__ import annotations

from events.ingest.dialects.base import Dialect


class Okta(Dialect):
    idp = "okta"
    render_active = True
