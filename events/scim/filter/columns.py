"""Where each SCIM attribute lives in the mirror tables.

- indexed columns of mirror_users / mirror_groups (userName through
  user_name_ci, so `userName eq "x"` is one index lookup);
- one row per value in mirror_user_values (emails, phoneNumbers, ...) or
  mirror_group_members (a group's members, a user's groups);
- the `resource` JSON column for the other string attributes (title, the
  Enterprise User extension...), which must hold the canonical attribute names;
  the compiler reaches those itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scim2_models import EnterpriseUser, Group, User
from sqlalchemy import ColumnElement, FromClause, Table, and_, literal

from storage.projection import USER_VALUE_ATTRIBUTES
from storage.schema import mirror_group_members, mirror_groups, mirror_user_values, mirror_users

UserResource = User[EnterpriseUser]


@dataclass(frozen=True)
class Stored:
    """The SQL expression holding one attribute value."""

    column: ColumnElement[Any]
    folded: ColumnElement[Any] | None = None  # a copy holding fold(value), indexed
    nullable: bool = True


@dataclass(frozen=True)
class Rows:
    """A multi-valued attribute stored as one row per value in a side table."""

    source: FromClause
    tenant: ColumnElement[Any]
    owner: ColumnElement[Any]  # the id of the resource the row belongs to
    subs: Mapping[str, Stored]  # by canonical sub-attribute name
    condition: ColumnElement[bool] | None = None
    ordering: tuple[ColumnElement[Any], ...] = ()  # "primary, else first" for sortBy


@dataclass(frozen=True)
class ResourceSql:
    """One resource type's table and where each of its attributes is stored."""

    table: Table
    model: type[Any]
    columns: Mapping[str, Stored]  # by canonical path: "userName", "name.givenName"
    collections: Mapping[str, Rows]  # by canonical attribute name: "emails"
    presence_only: Mapping[str, ColumnElement[bool]]  # password: only `pr` is answerable


def _user_values(attr: str, value_name: str) -> Rows:
    v = mirror_user_values.c
    return Rows(
        source=mirror_user_values,
        tenant=v.tenant_id,
        owner=v.user_id,
        condition=v.attr == attr,
        subs={
            value_name: Stored(v.value, v.value_ci),
            "type": Stored(v.type),
            "display": Stored(v.display),
            "primary": Stored(v.primary, nullable=False),
        },
        ordering=(v.primary.desc(), v.position),
    )


def _meta(table: Table, resource_type: str) -> dict[str, Stored]:
    return {
        "meta.created": Stored(table.c.created_at, nullable=False),
        "meta.lastModified": Stored(table.c.updated_at, nullable=False),
        "meta.resourceType": Stored(literal(resource_type), nullable=False),
    }


_u, _g, _m = mirror_users.c, mirror_groups.c, mirror_group_members.c

USERS = ResourceSql(
    table=mirror_users,
    model=UserResource,
    columns={
        "id": Stored(_u.id, nullable=False),
        "externalId": Stored(_u.external_id),
        "userName": Stored(_u.user_name, _u.user_name_ci, nullable=False),
        "displayName": Stored(_u.display_name),
        "name.givenName": Stored(_u.given_name),
        "name.familyName": Stored(_u.family_name),
        "active": Stored(_u.active, nullable=False),
        **_meta(mirror_users, "User"),
    },
    collections={
        **{attr: _user_values(attr, value) for attr, value in USER_VALUE_ATTRIBUTES.items()},
        "groups": Rows(
            source=mirror_group_members.join(
                mirror_groups, and_(_m.tenant_id == _g.tenant_id, _m.group_id == _g.id)
            ),
            tenant=_m.tenant_id,
            owner=_m.member_id,
            subs={
                "value": Stored(_m.group_id, nullable=False),
                "display": Stored(_g.display_name, _g.display_name_ci, nullable=False),
            },
        ),
    },
    presence_only={"password": _u.has_password.is_(True)},
)

GROUPS = ResourceSql(
    table=mirror_groups,
    model=Group,
    columns={
        "id": Stored(_g.id, nullable=False),
        "externalId": Stored(_g.external_id),
        "displayName": Stored(_g.display_name, _g.display_name_ci, nullable=False),
        **_meta(mirror_groups, "Group"),
    },
    collections={
        "members": Rows(
            source=mirror_group_members,
            tenant=_m.tenant_id,
            owner=_m.group_id,
            subs={
                "value": Stored(_m.member_id, nullable=False),
                "type": Stored(_m.member_type, nullable=False),
            },
        ),
    },
    presence_only={},
)
