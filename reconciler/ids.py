"""The one id maker: every id the service mints (tenants, tokens, mirror resources,
members, groups, invitations) has the same shape, a UUID in its canonical text form.

Version 7 (RFC 9562, section 5.7): the first 48 bits are the Unix time in milliseconds,
the other 74 are random. Ids minted close together sort together, so the B-tree indexes
keyed by them (primary keys, the member and mirror-id indexes) take a batch's inserts in
a few neighbouring pages instead of one random page each: a 100,000-user import then
writes and caches a fraction of the pages a random UUID4 makes it touch. An id reveals
when it was minted, to the millisecond; it was never a secret (tokens are made apart,
with `secrets`).
"""

from __future__ import annotations

import os
import time
import uuid

_VERSION_7 = 0x7 << 76
_VARIANT_RFC = 0x2 << 62
_CLEAR = ~((0xF << 76) | (0x3 << 62))


def new_id() -> str:
    millis = time.time_ns() // 1_000_000 & ((1 << 48) - 1)
    value = (millis << 80 | int.from_bytes(os.urandom(10), "big")) & _CLEAR
    return str(uuid.UUID(int=value | _VERSION_7 | _VARIANT_RFC))
