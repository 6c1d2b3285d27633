"""What a domain name and an email address look like, for every entry point.

The admin API's request models (events/admin/models.py) and the workspace services
(reconciler/workspaces.py, sso.py, which the CLI calls) use the same two checks, so
`tenant create --sso-domain 'not a domain'` is refused as the API refuses it.
Deliberately shallow: a mail server decides whether an address exists; these catch
typing mistakes (no `@`, spaces, no dot in the domain).
"""

from __future__ import annotations

from collections.abc import Iterable

from reconciler.errors import InvalidValue

MAX_EMAIL, MAX_DOMAIN = 320, 253
_LABEL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


def looks_like_email(text: str) -> bool:
    """Good enough to tell "bjensen" from "bjensen@example.com" (docs/architecture.md rule 2);
    deliverability is the IdP's business.

    What `[^@\\s]+@[^@\\s]+\\.[^@\\s]+` fully matches (no white space, one "@" with text
    before it, a dot inside the domain), in one pass: that pattern backtracks quadratically
    on a near-address ("a@" + "." * 20000 + "@" cost seconds of CPU), issue 16.
    """
    local, at, domain = text.partition("@")
    return (
        bool(local and at)
        and "@" not in domain
        and "." in domain[1:-1]
        and not any(char.isspace() for char in text)
    )


def _is_domain(name: str) -> bool:
    """Labels of letters, digits and inner hyphens, then a final label of two or more: in
    one pass, where the equivalent pattern backtracked quadratically (issue 16)."""
    *labels, last = name.split(".")
    return (
        bool(labels)
        and len(last) >= 2
        and set(last) <= _LABEL_CHARS
        and all(
            label and label[0] != "-" and label[-1] != "-" and set(label) <= _LABEL_CHARS
            for label in labels
        )
    )


def is_email(value: str) -> bool:
    return len(value) <= MAX_EMAIL and looks_like_email(value)


def is_domain(value: str) -> bool:
    return len(value) <= MAX_DOMAIN and _is_domain(value.lower())


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
