"""What a domain name and an email address look like, for every entry point.

The admin API's request models (events/admin/models.py) and the workspace services
(reconciler/workspaces.py, sso.py, which the CLI calls) use the same two checks, so
`tenant create --sso-domain 'not a domain'` is refused as the API refuses it.
Deliberately shallow: a mail server decides whether an address exists; these catch
typing mistakes (no `@`, spaces, no dot in the domain).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from reconciler.errors import InvalidValue

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_DOMAIN = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9-]{2,}")
MAX_EMAIL, MAX_DOMAIN = 320, 253


def is_email(value: str) -> bool:
    return len(value) <= MAX_EMAIL and _EMAIL.fullmatch(value) is not None


def is_domain(value: str) -> bool:
    return len(value) <= MAX_DOMAIN and _DOMAIN.fullmatch(value.lower()) is not None


def clean_email(value: str) -> str:
    """The address without surrounding blanks; InvalidValue when it is not one."""
    stripped = value.strip()
    if not is_email(stripped):
        raise InvalidValue(f"not an email address: {value!r}")
    return stripped


def clean_domains(values: Iterable[str]) -> list[str]:
    """Lower-cased, sorted and distinct; InvalidValue naming the first that is not a domain."""
    cleaned = set()
    for value in values:
        domain = value.strip().lower()
        if not is_domain(domain):
            raise InvalidValue(f"not a domain name: {value!r}")
        cleaned.add(domain)
    return sorted(cleaned)
