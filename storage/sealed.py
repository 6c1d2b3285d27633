"""Secrets kept encrypted at rest: the webhook signing keys, which HMAC needs in clear.

Every other credential is stored as a SHA-256 hash (storage/tenants.py); a signing key
cannot be, since verifying a signature means computing it. So it is sealed with Fernet
(AES-128-CBC and HMAC-SHA256, from the `cryptography` package) under a key that lives in
the process's settings (SCIMSYNC_SECRET_KEY), never in the database: a copy of the
database, a backup or an SQL injection yields no working signing key.

Several keys rotate: the first seals, any of them opens.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class Sealer:
    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("at least one key")
        self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str | None:
        """The secret, or None when no configured key opens it (a key was dropped)."""
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            return None
