"""events/scim/query.py: list parameters and /.search bodies read by scim2-models'
SearchRequest, capped by our limits; the ListResponse envelope is scim2-models'."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from scim2_models import Context, EnterpriseUser, Group, ListResponse, User

from events.scim.query import MAX_START_INDEX, Query, list_response, parse_query, parse_search_body
from reconciler.errors import Refusal

SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"


@dataclass(frozen=True)
class Limits:
    """The two settings the parser reads."""

    default_page_size: int = 100
    max_results: int = 1000


LIMITS: Any = Limits()


def test_defaults_and_limits() -> None:
    assert parse_query({}, LIMITS) == Query(None, 1, 100, None, False, None, None)
    capped = parse_search_body({"schemas": [SEARCH], "count": 10**30, "startIndex": 10**30}, LIMITS)
    assert (capped.count, capped.start_index) == (1000, MAX_START_INDEX)
    floored = parse_query({"count": "-5", "startIndex": "0"}, LIMITS)
    assert (floored.count, floored.start_index) == (0, 1)
    assert parse_query({"count": "", "filter": ""}, LIMITS) == parse_query({}, LIMITS)


def test_get_parameters() -> None:
    query = parse_query(
        {
            "filter": 'userName eq "a"',
            "startIndex": "3",
            "COUNT": "7",
            "sortBy": "name.familyName",
            "sortOrder": "Descending",
            "attributes": "userName, emails.value",
            "aadOptscim062020": "",  # Entra's flag: unknown names are ignored
            "schemas": "anything",  # no meaning in a query string
        },
        LIMITS,
    )
    assert query == Query(
        'userName eq "a"', 3, 7, "name.familyName", True, ["userName", "emails.value"], None
    )


def test_search_bodies() -> None:
    body = {
        "schemas": [SEARCH],
        "filter": 'displayName sw "Eng"',
        "excludedAttributes": ["members"],
        "count": 10,
        "x": {"leaf": 1},  # unknown members are ignored, as before
    }
    query = parse_search_body(body, LIMITS)
    assert query == Query('displayName sw "Eng"', 1, 10, None, False, None, ["members"])
    assert parse_search_body({"count": 2}, LIMITS).count == 2  # schemas may be left out


def test_the_filter_is_left_to_the_compiler() -> None:
    """Parsed once, bound to its resource type and after its length limit, elsewhere."""
    assert parse_query({"filter": "userName eq"}, LIMITS).filter == "userName eq"


@pytest.mark.parametrize(
    ("fields", "scim_type"),
    [
        ({"count": "many"}, "invalidValue"),
        ({"startIndex": 1.5}, "invalidValue"),
        ({"sortOrder": "sideways"}, "invalidValue"),
        ({"sortBy": 'emails[type eq "work"]'}, "invalidPath"),
        ({"attributes": ["emails[type eq 1]"]}, "invalidPath"),
        ({"attributes": "userName", "excludedAttributes": "emails"}, "invalidValue"),
        ({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"]}, "invalidSyntax"),
        ({"filter": 5}, "invalidFilter"),
    ],
)
def test_bad_parameters_are_refused_with_their_scim_type(
    fields: dict[str, Any], scim_type: str
) -> None:
    with pytest.raises(Refusal) as refused:
        parse_search_body(fields, LIMITS)
    assert (refused.value.status, refused.value.scim_type) == (400, scim_type)
    assert refused.value.detail


def test_the_list_response_parses_back() -> None:
    user = {
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        ],
        "id": "u1",
        "userName": "a@acme.test",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D"},
        "meta": {"resourceType": "User", "location": "https://h/scim/v2/t/Users/u1"},
    }
    group = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "id": "g1",
        "displayName": "Eng",
        "meta": {"resourceType": "Group", "location": "https://h/scim/v2/t/Groups/g1"},
    }
    query = parse_query({"startIndex": "5"}, LIMITS)
    body = list_response(12, query, [user, group])
    assert body["Resources"][0] is user  # rendered once, not copied through a model
    model = ListResponse[User[EnterpriseUser] | Group]
    parsed = model.model_validate(body, scim_ctx=Context.SEARCH_RESPONSE)
    assert (parsed.total_results, parsed.start_index, parsed.items_per_page) == (12, 5, 2)
    assert parsed.model_dump(scim_ctx=Context.SEARCH_RESPONSE) == body
    empty = list_response(0, query, [])
    assert empty["Resources"] == [] and empty["totalResults"] == 0
