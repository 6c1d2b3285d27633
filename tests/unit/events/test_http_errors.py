"""events/http_errors.py: every error a request can raise, answered in one shape.

SCIM routes: a scim2-models `Error` (status as a string, the refusal's scimType);
other routes: `{"error": code, "detail": ...}`. Each `Refusal` type of
reconciler/errors.py is found by walking the class tree, so a new one is covered too.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import scim2_models
from fastapi import FastAPI
from fastapi.testclient import TestClient
from scim2_models import Error, SCIMException

from events import http_errors
from reconciler import errors
from reconciler.model import RuleViolation

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
SCIM = "/scim/v2/tenant/boom"
ADMIN = "/api/v1/workspaces/tenant/boom"


def _subclasses(cls: type[errors.Refusal]) -> Iterator[type[errors.Refusal]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _instance(cls: type[errors.Refusal]) -> errors.Refusal:
    if issubclass(cls, errors.RateLimited):
        return cls("slow down", retry_after=2.4)
    if issubclass(cls, errors.RuleRefusal):
        return cls("scim_managed", "manage it in the IdP")
    return cls(f"refused by {cls.__name__}")


REFUSALS = sorted(_subclasses(errors.Refusal), key=lambda c: c.__name__)
SCIM_EXCEPTIONS = sorted(
    (
        c
        for c in vars(scim2_models).values()
        if isinstance(c, type) and issubclass(c, SCIMException)
    ),
    key=lambda c: c.__name__,
)


@pytest.fixture
def raising() -> Iterator[tuple[TestClient, list[BaseException]]]:
    """An app with only the error handlers; each request raises the next queued error."""
    queued: list[BaseException] = []
    app = FastAPI()
    http_errors.install(app)

    async def boom() -> None:
        raise queued.pop(0)

    app.add_api_route(SCIM, boom, methods=["GET"])
    app.add_api_route(ADMIN, boom, methods=["GET"])
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, queued


def scim_error(response: httpx.Response) -> Error:
    """The body, validated as scim2-models' Error; its raw `status` must be the string."""
    body = response.json()
    assert response.headers["content-type"].startswith("application/scim+json")
    assert body["schemas"] == [ERROR_SCHEMA]
    assert body["status"] == str(response.status_code)
    assert "Traceback" not in response.text
    return Error.model_validate(body)


def test_every_refusal_type_is_covered() -> None:
    names = {c.__name__ for c in REFUSALS}
    assert {"InvalidFilter", "Uniqueness", "RuleRefusal", "RateLimited", "NotFound"} <= names


@pytest.mark.parametrize("cls", REFUSALS, ids=lambda c: c.__name__)
def test_each_refusal_is_a_scim_error_on_scim_routes(
    raising: tuple[TestClient, list[BaseException]], cls: type[errors.Refusal]
) -> None:
    client, queued = raising
    refusal = _instance(cls)
    queued.append(refusal)
    response = client.get(SCIM)
    assert response.status_code == refusal.status
    error = scim_error(response)
    assert error.status == refusal.status
    assert error.scim_type == refusal.scim_type
    assert error.detail == refusal.detail
    if refusal.scim_type is None:
        assert "scimType" not in response.json()


@pytest.mark.parametrize("cls", REFUSALS, ids=lambda c: c.__name__)
def test_each_refusal_keeps_the_admin_shape_elsewhere(
    raising: tuple[TestClient, list[BaseException]], cls: type[errors.Refusal]
) -> None:
    client, queued = raising
    refusal = _instance(cls)
    queued.append(refusal)
    response = client.get(ADMIN)
    assert response.status_code == refusal.status
    assert response.json() == {"error": errors.error_code(refusal), "detail": refusal.detail}


def test_rule_refusals_carry_their_code_and_status(
    raising: tuple[TestClient, list[BaseException]],
) -> None:
    client, queued = raising
    queued.append(RuleViolation("scim_managed", "manage it in the IdP"))
    assert client.get(ADMIN).json() == {"error": "scim_managed", "detail": "manage it in the IdP"}
    queued.append(RuleViolation("groups_not_supported", "users only"))
    response = client.get(SCIM)
    assert response.status_code == 501
    assert scim_error(response).detail == "users only"


def test_refusal_headers(raising: tuple[TestClient, list[BaseException]]) -> None:
    client, queued = raising
    queued.append(errors.RateLimited("slow down", retry_after=2.4))
    assert client.get(SCIM).headers["Retry-After"] == "2"
    queued.append(errors.Unauthorized("missing bearer token"))
    assert client.get(SCIM).headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("cls", SCIM_EXCEPTIONS, ids=lambda c: c.__name__)
def test_scim2_models_exceptions_answer_their_rfc_status_and_type(
    raising: tuple[TestClient, list[BaseException]], cls: type[SCIMException]
) -> None:
    client, queued = raising
    queued.append(cls(detail="refused by the library"))
    response = client.get(SCIM)
    assert response.status_code == cls.status
    error = scim_error(response)
    assert error.scim_type == (cls.scim_type or None)
    assert error.detail == "refused by the library"


def test_a_transient_error_is_503_with_retry_after(
    raising: tuple[TestClient, list[BaseException]],
) -> None:
    client, queued = raising
    queued.append(errors.Transient("redis hiccup at 10.0.0.7"))
    response = client.get(SCIM)
    assert response.status_code == 503 and int(response.headers["Retry-After"]) >= 1
    assert "10.0.0.7" not in response.text
    scim_error(response)


def test_an_unexpected_error_is_a_generic_500(
    raising: tuple[TestClient, list[BaseException]],
) -> None:
    client, queued = raising
    for path in (SCIM, ADMIN):
        queued.append(errors.Permanent("bad", "secret /work/main/storage/db.py"))
        response = client.get(path)
        assert response.status_code == 500
        assert "secret" not in response.text and "Traceback" not in response.text
    queued.append(RuntimeError("secret"))
    assert scim_error(client.get(SCIM)).detail == http_errors.INTERNAL_ERROR


def test_unknown_routes_and_bad_parameters(raising: tuple[TestClient, list[BaseException]]) -> None:
    client, _ = raising
    missing = client.get("/scim/v2/tenant/nothing-here")
    assert missing.status_code == 404 and scim_error(missing).detail == "no such route"
    assert client.get("/api/v1/nothing-here").json()["error"] == "not_found"


def test_the_bulk_response_error_is_the_same_message() -> None:
    error = http_errors.scim_error(409, "userName taken", "uniqueness")
    assert error.model_dump() == {
        "schemas": [ERROR_SCHEMA],
        "status": "409",
        "scimType": "uniqueness",
        "detail": "userName taken",
    }
