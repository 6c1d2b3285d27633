"""The words of the provisioning trace: IdP names, what changed, and which §4 rule decided.

Pure data and small functions (reconciler/trace.py builds the timeline with them). A rule
is named by its number in docs/architecture.md §4 so an operator can look it up.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

IDP_NAMES = {
    "okta": "Okta",
    "entra": "Microsoft Entra ID",
    "google": "Google Workspace",
    "onelogin": "OneLogin",
    "jumpcloud": "JumpCloud",
    "ping": "Ping Identity",
    "generic": "the IdP",
}

# Attribute names whose values are never shown, only that they changed. Passwords are
# not stored at all; this is the second fence for whatever an IdP puts in an extension.
_SECRET_MARKERS = ("password", "secret", "token", "credential")
_MAX_VALUE = 80

# Refusal codes (RuleViolation.code, dead letters) in words, with the rule behind them.
REFUSALS: dict[str, tuple[str, int | None]] = {
    "email_conflict": ("the email address already belongs to another member", 2),
    "no_email": ("the user has no email address (primary, first, or an address as userName)", 2),
    "groups_unsupported": ("this IdP provisions users only; group pushes are refused", 10),
    "scim_disabled": ("SCIM is not enabled for this workspace", 1),
    "unknown_tenant": ("the workspace no longer exists", None),
    "owner_protected": ("the workspace Owner is never deactivated or deleted by SCIM", 5),
}

HTTP_STATUS = {"create": 201, "replace": 200, "patch": 200, "delete": 204}


def idp_name(idp: str | None) -> str:
    return IDP_NAMES.get(idp or "generic", "the IdP")


def refusal_words(code: str, reason: str) -> tuple[str, int | None]:
    """The refusal in words and its rule; the stored reason adds the particulars."""
    words, rule = REFUSALS.get(code, (code.replace("_", " "), None))
    particulars = reason.split(": ", 1)[-1] if reason else ""
    if particulars and particulars not in words:
        words = f"{words} ({particulars})"
    return words, rule


@lru_cache(maxsize=4096)
def is_secret(name: str) -> bool:
    lowered = name.lower()
    return any(marker in lowered for marker in _SECRET_MARKERS)


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "(none)"
    text = str(value)
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 1] + "…"


def flatten(resource: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """A SCIM resource as `attribute path -> value in words`; multi-valued attributes
    become their values joined (the primary first), secrets become "(hidden)"."""
    flat: dict[str, str] = {}
    for key, value in resource.items():
        if key in ("schemas", "meta", "id", "members_added", "members_removed"):
            continue
        name = f"{prefix}{key.rsplit(':', 1)[-1]}"
        if is_secret(key):
            flat[name] = "(hidden)"
        elif isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, list):
            items = sorted(
                (v for v in value if isinstance(v, dict)), key=lambda v: not v.get("primary")
            )
            values = [str(v.get("value", v.get("display", ""))) for v in items]
            values += [str(v) for v in value if not isinstance(v, dict)]
            flat[name] = _shown(", ".join(values))
        else:
            flat[name] = _shown(value)
    return flat


def changes(before: dict[str, Any] | None, after: dict[str, Any]) -> list[str]:
    """What a write changed, one `name: old → new` per attribute; a create lists what it set."""
    return diff(None if before is None else flatten(before), flatten(after))


def diff(old: dict[str, str] | None, new: dict[str, str]) -> list[str]:
    """`changes` over resources already flattened (a timeline flattens each version once)."""
    if old is None:
        return [f"{name}={value}" for name, value in new.items()]
    out = []
    for name in sorted(old.keys() | new.keys()):
        if old.get(name) != new.get(name):
            out.append(f"{name}: {old.get(name, '(none)')} → {new.get(name, '(none)')}")
    return out


def status_change(status: str, actor_kind: str) -> tuple[str, str, int]:
    """(what, why, rule) for a member's new status, by who changed it."""
    if actor_kind == "cascade":
        return f"became {status}", "SSO was removed from the workspace", 11
    if status == "deactivated":
        return (
            "deactivated: cannot log in, not billed, groups and permissions kept",
            "the IdP sent active=false",
            4,
        )
    return (
        f"reactivated as {status}, with every group and permission intact",
        "the IdP sent active=true",
        4,
    )


def member_created(status: str, email: str) -> tuple[str, str, int]:
    domain = email.rsplit("@", 1)[-1] if "@" in email else email
    if status == "active":
        return "joined the workspace as active", f"{domain} is a verified SSO domain", 3
    if status == "pending":
        return (
            "joined the workspace as pending (needs an invitation accepted)",
            f"{domain} is not a verified SSO domain",
            3,
        )
    return f"joined the workspace as {status}", "the IdP created the user inactive", 4


# What a refused write's status means to whoever reads the trace (RFC 7644 §3.12).
_INGEST_REFUSALS = {
    400: "the request was not valid SCIM",
    409: "it would break a uniqueness rule of the workspace",
    412: "it was based on an older version than the one stored",
}


def ingest_refusal(idp: str, detail: dict[str, Any]) -> tuple[str, str, int | None]:
    """(what, why, rule) of a write the ingest answered with an error: nothing changed."""
    status = detail.get("status")
    what = (
        f"{idp_name(idp)} {detail.get('method')} {detail.get('path')} → {status} refused:"
        f" {detail.get('detail')}; nothing changed"
    )
    why = _INGEST_REFUSALS.get(int(status or 0), "the ingest refused it")
    rule = 2 if detail.get("scim_type") == "uniqueness" else None
    return what, why, rule
