"""Errors grouped by what the caller must do.

- `Refusal` (4xx, never retried): the request or event is wrong or breaks a rule.
  Each SCIM refusal knows its HTTP status and `scimType`; the HTTP layer turns it
  into a SCIM Error body in one place (events/http_errors.py).
- `Transient`: try again later (a database or Redis hiccup).
- `Permanent`: an event that can never apply; it goes to the dead-letter table.
"""

from __future__ import annotations


class ScimSyncError(Exception):
    """Base of every error this service raises on purpose."""


class Refusal(ScimSyncError):
    status: int = 400
    scim_type: str | None = None

    def __init__(self, detail: str, *, status: int | None = None, scim_type: str | None = None):
        super().__init__(detail)
        self.detail = detail
        if status is not None:
            self.status = status
        if scim_type is not None:
            self.scim_type = scim_type


class InvalidSyntax(Refusal):
    scim_type = "invalidSyntax"


class InvalidValue(Refusal):
    scim_type = "invalidValue"


class InvalidFilter(Refusal):
    scim_type = "invalidFilter"


class InvalidPath(Refusal):
    scim_type = "invalidPath"


class NoTarget(Refusal):
    scim_type = "noTarget"


class Mutability(Refusal):
    scim_type = "mutability"


class TooMany(Refusal):
    scim_type = "tooMany"


class Uniqueness(Refusal):
    status = 409
    scim_type = "uniqueness"


class InvalidVersion(Refusal):
    status = 400
    scim_type = "invalidVers"


class NotFound(Refusal):
    status = 404


# Issue 16: every refused credential reads the same, so that a 401 never tells an unknown
# tenant from a wrong, missing or other tenant's token (tenant ids are not to be probed).
CREDENTIALS_REFUSED = "missing or invalid credentials"


class Unauthorized(Refusal):
    status = 401

    def __init__(self, detail: str = CREDENTIALS_REFUSED):
        super().__init__(detail)


class PreconditionFailed(Refusal):
    status = 412


class PayloadTooLarge(Refusal):
    status = 413


class RequestTimeout(Refusal):
    status = 408


class MethodNotAllowed(Refusal):
    status = 405


class NotImplementedFeature(Refusal):
    status = 501


class RateLimited(Refusal):
    status = 429

    def __init__(self, detail: str, *, retry_after: float):
        super().__init__(detail)
        self.retry_after = retry_after


class RuleRefusal(Refusal):
    """A workspace rule (docs/architecture.md, section 4) forbids the action: 409 with a code."""

    status = 409

    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code


STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    409: "conflict",
    412: "precondition_failed",
    413: "payload_too_large",
    429: "rate_limited",
}


def error_code(refusal: Refusal) -> str:
    """The machine-readable code of a refusal outside SCIM (`{"error": code, ...}`): the
    rule's code, else the SCIM type, else the status's name."""
    if isinstance(refusal, RuleRefusal):
        return refusal.code
    return refusal.scim_type or STATUS_CODES.get(refusal.status, "error")


class Transient(ScimSyncError):
    """Retry later: the world was briefly unavailable."""


class Permanent(ScimSyncError):
    """An event that can never be applied as it stands: dead-letter it."""

    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code
        self.detail = detail
