"""Adversarial input for the filter compiler (events/scim/filter/): whatever the text, it
either compiles to SQL that runs, or is refused with InvalidFilter; and every value is a
bound parameter that matches literally, wildcards and quotes included.

(tests/integration/events/scim/test_filter_sql.py holds the filter semantics against scim2-models
and a few fixed injection strings; this file throws what an attacker would.)
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, insert, select

from events.scim.filter import group_filter, group_sort_key, user_filter, user_sort_key
from reconciler.errors import Refusal
from storage.projection import user_columns
from storage.schema import mirror_groups, mirror_users

ATTRIBUTES = [
    "userName",
    "displayName",
    "title",
    "externalId",
    "emails.value",
    "emails",
    'emails[type eq "work"].value',
    "name.givenName",
    "active",
    "meta.lastModified",
    "id",
    "groups.value",
    "members.value",
    "members",
    "nickName",
    "x",
    "",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
]
OPERATORS = ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr", "EQ", "Co", "zz"]
NASTY = [
    "'",
    '\\"',
    ";",
    "--",
    "/*",
    "*/",
    "' OR 1=1 --",
    "%",
    "_",
    "\\",
    "\x7f",
    "\u202e",
    "\U0001f600",
    "ﬀ",
    "İ",
    "\u0085",
    "$",
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    "\t",
    "\r\n",
]
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
numbers = st.one_of(
    st.integers(),
    st.integers(min_value=10**18, max_value=10**40),
    st.floats(allow_nan=False, allow_infinity=False),
)
literals = st.one_of(
    st.builds(json.dumps, st.text(max_size=30)),
    st.builds(json.dumps, st.lists(st.sampled_from(NASTY), max_size=6).map("".join)),
    numbers.map(lambda n: repr(n) if isinstance(n, float) else str(n)),
    st.sampled_from(["true", "false", "null", '"2024-01-01T00:00:00Z"', '"', "'x'", "[]"]),
)


@st.composite
def expressions(draw: st.DrawFn, depth: int = 0) -> str:
    attribute = draw(st.sampled_from(ATTRIBUTES))
    operator = draw(st.sampled_from(OPERATORS))
    leaf = f"{attribute} pr" if operator == "pr" else f"{attribute} {operator} {draw(literals)}"
    if depth >= 3 or draw(st.booleans()):
        return leaf
    inner = draw(expressions(depth + 1))
    shape = draw(st.sampled_from(["and", "or", "not", "paren", "value", "deep"]))
    if shape == "not":
        return f"not ({inner})"
    if shape == "paren":
        return f"({inner})"
    if shape == "value":
        return f"emails[{inner}]"
    if shape == "deep":
        n = draw(st.integers(1, 200))
        return "(" * n + inner + ")" * n
    return f"{leaf} {shape} {inner}"


filters = st.one_of(
    expressions(),
    st.text(max_size=200),
    st.lists(st.sampled_from(list('()[]"\\ ') + NASTY + ATTRIBUTES + OPERATORS), max_size=40).map(
        " ".join
    ),
)


def run(engine: Engine, condition: Any, table: Any) -> list[str]:
    with engine.connect() as conn:
        query = select(table.c.id).where(table.c.tenant_id == "fuzz", condition)
        return list(conn.execute(query).scalars())


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=filters)
def test_any_filter_text_compiles_to_runnable_sql_or_is_refused(engine: Engine, text: str) -> None:
    for compile_, table in ((user_filter, mirror_users), (group_filter, mirror_groups)):
        try:
            condition = compile_(text)
        except Refusal as refused:
            assert refused.status == 400 and refused.scim_type == "invalidFilter"
            continue
        run(engine, condition, table)  # no database error, whatever the values


@settings(max_examples=200, deadline=None)
@given(
    text=st.one_of(
        st.sampled_from(ATTRIBUTES),
        st.text(max_size=60),
        st.sampled_from(
            [
                "userName; DROP TABLE mirror_users",
                "title--",
                'emails[type eq "work"].value',
                "meta.created",
                "userName /* */",
                "1=1",
            ]
        ),
    )
)
def test_any_sort_by_is_a_known_attribute_or_refused(text: str) -> None:
    for sort_key in (user_sort_key, group_sort_key):
        try:
            sort_key(text)
        except Refusal as refused:
            assert refused.status == 400


# Wildcard-heavy lower-case ASCII: SQLite's lower() folds ASCII only, and `title`
# compares case-insensitively, so the expected answer below is exact.
wildcard_text = st.text(alphabet=st.sampled_from(list("ab%_\\'\";-*/ ")), min_size=1, max_size=12)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(titles=st.lists(wildcard_text, min_size=1, max_size=5, unique=True), needle=wildcard_text)
def test_substring_operators_match_literally(
    engine: Engine, titles: list[str], needle: str
) -> None:
    tenant = f"lit-{uuid.uuid4().hex[:10]}"
    ids = {}
    with engine.begin() as conn:
        for n, title in enumerate(titles):
            resource = {"userName": f"u{n}", "title": title}
            ids[title] = f"u{n}"
            conn.execute(
                insert(mirror_users).values(
                    tenant_id=tenant,
                    id=f"u{n}",
                    version=1,
                    resource=resource,
                    created_at=EPOCH,
                    updated_at=EPOCH,
                    **user_columns(resource),
                )
            )
    checks = {
        "co": lambda t: needle in t,
        "sw": lambda t: t.startswith(needle),
        "ew": lambda t: t.endswith(needle),
        "eq": lambda t: t == needle,
    }
    with engine.connect() as conn:
        for operator, matches in checks.items():
            condition = user_filter(f"title {operator} {json.dumps(needle)}")
            found = set(
                conn.execute(
                    select(mirror_users.c.id).where(mirror_users.c.tenant_id == tenant, condition)
                ).scalars()
            )
            assert found == {ids[t] for t in titles if matches(t)}, (operator, needle, titles)
