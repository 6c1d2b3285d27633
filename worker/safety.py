"""What a process checks before it serves, and the secrets the embedded default makes.

Production (`SCIMSYNC_ENVIRONMENT=production`, as deploy/ sets it): a process refuses to
start while any secret it would use is a placeholder (deploy/'s `change-me-...` values, a
well-known default such as `scimsync`) or missing, and names the variable. A shipped
example that works as is would be a working credential on every deployment that forgot
to change it.

Development (the embedded default, `make up`): nothing is asked of the operator. The
secrets the service needs are made at first start under var_dir, mode 0600, and reused:
the key that encrypts webhook secrets (`secret.key`) and, when SCIMSYNC_OPERATOR_TOKEN is
unset, the operator token (`operator-token`, printed by `scimsync up`).
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import urlsplit

from worker.settings import Settings

# A value containing one of these was copied from an example.
PLACEHOLDER_MARKERS = ("change-me", "changeme", "change_me", "placeholder", "example", "xxxx")
# Defaults every scanner tries first.
WEAK_VALUES = {"scimsync", "password", "postgres", "admin", "secret", "operator", "redis"}
MIN_TOKEN_LENGTH = 32  # `scimsync operator-token` prints 46 characters
SECRET_KEY_FILE = "secret.key"
OPERATOR_TOKEN_FILE = "operator-token"


class UnsafeSetting(Exception):
    """One or more settings a production process must not start with."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{name} {problem}" for name, problem in problems))

    @property
    def variables(self) -> list[str]:
        return [name for name, _ in self.problems]


def is_placeholder(value: str) -> bool:
    text = value.strip().lower()
    return not text or text in WEAK_VALUES or any(m in text for m in PLACEHOLDER_MARKERS)


def _url_password(url: str | None) -> str | None:
    if not url:
        return None
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def unsafe_settings(settings: Settings, *, needs_secret_key: bool = True) -> list[tuple[str, str]]:
    """(variable, what is wrong) for each secret a production process must not use
    (Flower reads no webhook secret, so it runs without the secret key)."""
    if settings.environment != "production":
        return []
    problems: list[tuple[str, str]] = []
    token = settings.operator_token
    if token is not None and (is_placeholder(token) or len(token) < MIN_TOKEN_LENGTH):
        problems.append(
            (
                "SCIMSYNC_OPERATOR_TOKEN",
                "is a placeholder or too short: set the output of `scimsync operator-token`",
            )
        )
    if not needs_secret_key:
        pass
    elif settings.secret_key is None and settings.secret_key_file is None:
        problems.append(
            ("SCIMSYNC_SECRET_KEY", "is not set: set the output of `scimsync secret-key`")
        )
    elif settings.secret_key is not None and is_placeholder(settings.secret_key.get_secret_value()):
        problems.append(
            ("SCIMSYNC_SECRET_KEY", "is a placeholder: set the output of `scimsync secret-key`")
        )
    for name, url in (
        ("SCIMSYNC_DATABASE_URL", settings.database_url),
        ("SCIMSYNC_REDIS_URL", settings.redis_url),
    ):
        password = _url_password(url)
        if password is not None and is_placeholder(password):
            problems.append((name, "holds a placeholder password: set the real one"))
    for name, secret in (
        ("SCIMSYNC_SMTP_PASSWORD", settings.smtp_password),
        ("SCIMSYNC_METRICS_TOKEN", settings.metrics_token),
        (
            "SCIMSYNC_RECONCILE_SOURCE_TOKEN",
            settings.reconcile_source_token.get_secret_value()
            if settings.reconcile_source_token
            else None,
        ),
    ):
        if secret is not None and is_placeholder(secret):
            problems.append((name, "is a placeholder: set the real secret or unset it"))
    return problems


def flower_auth_problems(environ: Mapping[str, str], production: bool) -> list[tuple[str, str]]:
    """Flower's basic-auth pairs (`user:password[,user:password]`): required in production,
    and never a placeholder password."""
    value = environ.get("FLOWER_BASIC_AUTH", "").strip()
    if not value:
        if production:
            return [("FLOWER_BASIC_AUTH", "is not set: Flower needs a user:password")]
        return []
    for pair in value.split(","):
        _, colon, password = pair.partition(":")
        if not colon or is_placeholder(password) or len(password) < 12:
            return [("FLOWER_BASIC_AUTH", "holds a placeholder or short password")]
    return []


def check_startup(settings: Settings) -> None:
    """Raise UnsafeSetting naming every variable a production process must not start with."""
    problems = unsafe_settings(settings)
    if problems:
        raise UnsafeSetting(problems)


# --- the embedded default's own secrets --------------------------------------------------


def local_secret(path: Path, make: Callable[[], str]) -> str:
    """The secret kept in `path`, made (mode 0600) on first use. Processes starting at
    once agree on one: each writes its own file and links it into place; the first link
    wins and every process reads the winner."""
    try:
        existing = path.read_text().strip()
    except FileNotFoundError:
        existing = ""
    if existing:
        return existing
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(make() + "\n")
    try:
        os.link(draft, path)
    except FileExistsError:
        pass
    finally:
        draft.unlink()
    return path.read_text().strip()


def new_secret_key() -> str:
    """A Fernet key: 32 random bytes, urlsafe base64."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def secret_keys(settings: Settings) -> list[str]:
    """The keys that encrypt webhook secrets at rest, the current one first."""
    if settings.secret_key is not None:
        raw = settings.secret_key.get_secret_value()
    elif settings.secret_key_file is not None:
        raw = Path(settings.secret_key_file).read_text()
    elif settings.environment == "production":
        raise UnsafeSetting([("SCIMSYNC_SECRET_KEY", "is not set")])
    else:
        raw = local_secret(settings.var_dir / SECRET_KEY_FILE, new_secret_key)
    keys = [key.strip() for key in raw.split(",") if key.strip()]
    if not keys:
        raise UnsafeSetting([("SCIMSYNC_SECRET_KEY", "is empty")])
    return keys


def embedded_operator_token(settings: Settings) -> str | None:
    """The operator token: the configured one, or in development the one made under
    var_dir at first start (so `make up` has a working, private dashboard login)."""
    if settings.operator_token:
        return settings.operator_token
    if settings.environment == "production":
        return None
    return local_secret(
        settings.var_dir / OPERATOR_TOKEN_FILE, lambda: "op_" + secrets.token_urlsafe(32)
    )
