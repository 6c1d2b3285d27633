"""How long a SCIM attribute's text may be (issue 16): refused with a 400 that names it.

A directory's values are short; a request that carries a 20,000-character `userName` is
an attack or a bug, and every character it carries is work for the parsers, the indexes
and the workspace. The attributes stored in indexed columns get the column's width (an
email address tops out at 320 = 64 + "@" + 255 by RFC 5321 §4.5.3.1, and PostgreSQL
would refuse a longer value anyway, without saying which); every other string (a photo
URL, a certificate, an extension's attribute) gets `MAX_TEXT_LENGTH`.
"""

from __future__ import annotations

from typing import Any

from reconciler.errors import InvalidValue
from storage.projection import USER_VALUE_ATTRIBUTES

MAX_TEXT_LENGTH = 8192  # any other string: a PEM certificate or a long photo URL fits
ADDRESS_LENGTH = 320  # RFC 5321 §4.5.3.1: 64-octet local part, "@", 255-octet domain
NAME_PART_LENGTH = 200

# Lower-cased attribute paths (list positions left out) and their maxima; the widths of
# the columns they are stored in (storage/schema.py).
MAX_LENGTHS: dict[str, int] = {
    "username": ADDRESS_LENGTH,
    "displayname": ADDRESS_LENGTH,
    "externalid": ADDRESS_LENGTH,
    "name.formatted": ADDRESS_LENGTH,
    "name.givenname": NAME_PART_LENGTH,
    "name.familyname": NAME_PART_LENGTH,
    "name.middlename": NAME_PART_LENGTH,
    "name.honorificprefix": NAME_PART_LENGTH,
    "name.honorificsuffix": NAME_PART_LENGTH,
    "nickname": NAME_PART_LENGTH,
    "title": NAME_PART_LENGTH,
    "emails.value": ADDRESS_LENGTH,
    **{f"{attr.lower()}.type": 100 for attr in USER_VALUE_ATTRIBUTES},
    **{f"{attr.lower()}.display": ADDRESS_LENGTH for attr in USER_VALUE_ATTRIBUTES},
}


def check_lengths(resource: dict[str, Any]) -> None:
    """Raise InvalidValue naming the first string attribute longer than its maximum."""
    stack: list[tuple[str, str, Any]] = [("", "", resource)]
    while stack:
        where, key, node = stack.pop()
        if isinstance(node, dict):
            for name, value in node.items():
                name = str(name)
                stack.append(
                    (f"{where}.{name}" if where else name, f"{key}.{name}" if key else name, value)
                )
        elif isinstance(node, list):
            stack.extend((f"{where}.{i}", key, value) for i, value in enumerate(node))
        elif isinstance(node, str):
            limit = MAX_LENGTHS.get(key.lower(), MAX_TEXT_LENGTH)
            if len(node) > limit:
                raise InvalidValue(  # a made-up key is echoed only so far
                    f"'{where[:200]}' is {len(node)} characters long; at most {limit} are accepted"
                )
