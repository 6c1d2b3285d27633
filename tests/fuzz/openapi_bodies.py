"""The app's OpenAPI document, completed for fuzzing.

SCIM routes read their bodies through `events.body.json_object` (a dependency that
bounds size and depth), and their list parameters from the raw query string, so
FastAPI's generated document says nothing about either. Schemathesis needs to know
what to send: this module adds the SCIM request bodies (RFC 7643/7644 shapes,
deliberately loose so that the negative mode has room), the list/search query
parameters and the `If-Match` header to the document the app itself produces.
"""

from __future__ import annotations

import copy
from typing import Any

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

_text: dict[str, Any] = {"type": "string", "maxLength": 80}
_multi: dict[str, Any] = {
    "type": "array",
    "maxItems": 3,
    "items": {
        "type": "object",
        "properties": {
            "value": _text,
            "type": {"type": "string", "enum": ["work", "home", "other", "Work"]},
            "primary": {"type": "boolean"},
            "display": _text,
        },
    },
}
USER = {
    "type": "object",
    "required": ["userName"],
    "properties": {
        "schemas": {
            "type": "array",
            "items": {"type": "string", "enum": [USER_SCHEMA, ENTERPRISE]},
        },
        "userName": {"type": "string", "maxLength": 80},
        "externalId": _text,
        "displayName": _text,
        "title": _text,
        "nickName": _text,
        "password": _text,
        "active": {"type": "boolean"},
        "name": {"type": "object", "properties": {"givenName": _text, "familyName": _text}},
        "emails": {
            **_multi,
            "items": {
                **_multi["items"],
                "properties": {
                    **_multi["items"]["properties"],
                    "value": {"type": "string", "format": "email"},
                },
            },
        },
        "phoneNumbers": _multi,
        "addresses": {
            "type": "array",
            "maxItems": 2,
            "items": {"type": "object", "properties": {"locality": _text, "type": _text}},
        },
        ENTERPRISE: {
            "type": "object",
            "properties": {
                "department": _text,
                "employeeNumber": _text,
                "manager": {"type": "object", "properties": {"value": _text}},
            },
        },
    },
}
_members = {
    "type": "array",
    "maxItems": 4,
    "items": {"type": "object", "properties": {"value": _text, "display": _text}},
}
GROUP = {
    "type": "object",
    "required": ["displayName"],
    "properties": {
        "schemas": {"type": "array", "items": {"type": "string"}},
        "displayName": _text,
        "externalId": _text,
        "members": _members,
    },
}
PATCH = {
    "type": "object",
    "required": ["Operations"],
    "properties": {
        "schemas": {
            "type": "array",
            "items": {"type": "string", "enum": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"]},
        },
        "Operations": {
            "type": "array",
            "maxItems": 4,
            "items": {
                "type": "object",
                "required": ["op"],
                "properties": {
                    "op": {
                        "type": "string",
                        "enum": ["add", "remove", "replace", "Add", "Replace"],
                    },
                    "path": {
                        "type": "string",
                        "maxLength": 60,
                        "examples": [
                            "displayName",
                            'emails[type eq "work"].value',
                            "members",
                            "active",
                            'members[value eq "x"]',
                            "name.givenName",
                            f"{ENTERPRISE}:manager",
                        ],
                    },
                    "value": {},
                },
            },
        },
    },
}
SEARCH = {
    "type": "object",
    "properties": {
        "schemas": {
            "type": "array",
            "items": {
                "type": "string",
                "enum": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            },
        },
        "filter": {"type": "string", "maxLength": 120},
        "startIndex": {"type": "integer"},
        "count": {"type": "integer"},
        "sortBy": _text,
        "sortOrder": {"type": "string", "enum": ["ascending", "descending"]},
        "attributes": {"type": "array", "items": _text},
    },
}
BULK = {
    "type": "object",
    "required": ["schemas", "Operations"],
    "properties": {
        "schemas": {
            "type": "array",
            "items": {
                "type": "string",
                "enum": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
            },
        },
        "failOnErrors": {"type": "integer", "minimum": 0},
        "Operations": {
            "type": "array",
            "maxItems": 4,
            "items": {
                "type": "object",
                "required": ["method", "path"],
                "properties": {
                    "method": {"type": "string", "enum": ["POST", "PUT", "PATCH", "DELETE", "GET"]},
                    "path": {
                        "type": "string",
                        "examples": ["/Users", "/Groups", "/Users/bulkId:a"],
                    },
                    "bulkId": {"type": "string", "maxLength": 10},
                    "version": {},  # anything: an ETag string is what we want
                    "data": {},  # anything: an object is what we want
                },
            },
        },
    },
}

_query: list[dict[str, Any]] = [
    {"name": name, "in": "query", "required": False, "schema": schema}
    for name, schema in (
        (
            "filter",
            {
                "type": "string",
                "maxLength": 120,
                "examples": [
                    'userName eq "a@acme.test"',
                    'emails[type eq "work" and value co "@"]',
                    'displayName sw "E" or members pr',
                    "not (active eq true)",
                ],
            },
        ),
        ("startIndex", {"type": "integer"}),
        ("count", {"type": "integer"}),
        ("sortBy", _text),
        ("sortOrder", _text),
        ("attributes", _text),
        ("excludedAttributes", _text),
    )
]
_if_match = {"name": "If-Match", "in": "header", "required": False, "schema": _text}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    # One media type: the routes read application/json the same way, and each one listed
    # doubles schemathesis' coverage phase.
    return {"required": True, "content": {"application/scim+json": {"schema": schema}}}


# (path suffix after /scim/v2/{tenant_id}, method) -> body schema
SCIM_BODIES = {
    ("/Users", "post"): USER,
    ("/Users/{resource_id}", "put"): USER,
    ("/Users/{resource_id}", "patch"): PATCH,
    ("/Groups", "post"): GROUP,
    ("/Groups/{resource_id}", "put"): GROUP,
    ("/Groups/{resource_id}", "patch"): PATCH,
    ("/Users/.search", "post"): SEARCH,
    ("/Groups/.search", "post"): SEARCH,
    ("/.search", "post"): SEARCH,
    ("/Bulk", "post"): BULK,
}


def fuzzable(document: dict[str, Any]) -> dict[str, Any]:
    """The SCIM and admin operations of `document`, with what SCIM routes really read."""
    out = copy.deepcopy(document)
    out["paths"] = {
        p: ops
        for p, ops in out["paths"].items()
        if p.startswith(("/scim/v2/", "/api/v1/workspaces/"))
    }
    for path, operations in out["paths"].items():
        if not path.startswith("/scim/v2/"):
            continue
        suffix = path.removeprefix("/scim/v2/{tenant_id}")
        for method, operation in operations.items():
            parameters = operation.setdefault("parameters", [])
            if (suffix, method) in SCIM_BODIES:
                operation["requestBody"] = _body(SCIM_BODIES[(suffix, method)])
            if method == "get" and suffix in ("/Users", "/Groups"):
                parameters += _query
            if method == "get" and suffix.endswith("{resource_id}"):
                parameters += [q for q in _query if q["name"].endswith("ttributes")]
            if method in ("put", "patch", "delete") and suffix.endswith("{resource_id}"):
                parameters.append(_if_match)
    return out
