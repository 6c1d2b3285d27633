"""Request and response bodies of the admin API (the workspace's Members page).

Requests are validated here (a bad body answers 400 `invalid_request`); responses
are built from the services' views (reconciler/admin_store.py) by the `of` constructors, so
the routes stay one call and one format.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from reconciler.admin_store import AuditRecord, GroupView, MemberDetail
from reconciler.cascade import CascadeReport
from reconciler.model import Access, ActualGroup, ActualMember, MemberStatus, TenantPolicy
from reconciler.validation import is_domain, is_email


def _email(value: str) -> str:
    if not is_email(value):
        raise ValueError("not an email address")
    return value


def _domain(value: str) -> str:
    if not is_domain(value):
        raise ValueError(f"not a domain name: {value!r}")
    return value.lower()


Email = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=320), AfterValidator(_email)
]
GroupName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
FolderPath = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
Domain = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=253), AfterValidator(_domain)
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- requests --------------------------------------------------------------------------


class InviteRequest(Strict):
    email: Email
    display_name: str | None = Field(default=None, max_length=320)


class AcceptInvitationRequest(Strict):
    # Only the fact that a password is set is kept (members.has_password), never the password.
    password: str = Field(min_length=8, max_length=1024)


class GroupRequest(Strict):
    name: GroupName


class Permission(Strict):
    path: FolderPath
    access: Access


def _distinct_paths(grants: list[Permission]) -> list[Permission]:
    paths = [grant.path for grant in grants]
    if len(set(paths)) != len(paths):
        raise ValueError("each path may appear once")
    return grants


PermissionList = Annotated[
    list[Permission], Field(max_length=10_000), AfterValidator(_distinct_paths)
]


class SsoRequest(Strict):
    domains: list[Domain] = Field(min_length=1, max_length=100)
    provider: str = Field(default="saml", min_length=1, max_length=200)


# --- responses -------------------------------------------------------------------------


class MemberOut(BaseModel):
    id: str
    email: str
    display_name: str | None
    status: MemberStatus
    role: str
    scim_managed: bool

    @classmethod
    def of(cls, member: ActualMember) -> MemberOut:
        return cls(
            id=member.id,
            email=member.email,
            display_name=member.display_name,
            status=member.status,
            role=member.role.value,
            scim_managed=member.scim_managed,
        )


class MemberList(BaseModel):
    members: list[MemberOut]
    counts: dict[MemberStatus, int]  # every tab's size, whichever tab was asked for
    next_after: str | None = None  # the next page's `after`; None on the last page

    @classmethod
    def of(
        cls,
        found: list[ActualMember],
        counts: dict[MemberStatus, int],
        next_after: str | None = None,
    ) -> MemberList:
        return cls(members=[MemberOut.of(m) for m in found], counts=counts, next_after=next_after)


class MemberGroupOut(BaseModel):
    id: str
    name: str
    scim_managed: bool
    source: str


class MemberDetailOut(MemberOut):
    has_password: bool
    groups: list[MemberGroupOut]
    permissions: list[Permission]  # effective: the best access any group gives, per path
    can_login: bool
    login_reason: str

    @classmethod
    def of_detail(cls, detail: MemberDetail) -> MemberDetailOut:
        member = detail.member
        return cls(
            **MemberOut.of(member).model_dump(),
            has_password=member.has_password,
            groups=[
                MemberGroupOut(id=g.id, name=g.name, scim_managed=g.scim_managed, source=g.source)
                for g in detail.groups
            ],
            permissions=_permissions(detail.permissions),
            can_login=detail.can_login,
            login_reason=detail.login_reason,
        )


def _permissions(grants: dict[str, Access]) -> list[Permission]:
    return [Permission(path=path, access=access) for path, access in grants.items()]


class GroupOut(BaseModel):
    id: str
    name: str
    scim_managed: bool
    member_count: int
    permissions: list[Permission]

    @classmethod
    def of(cls, view: GroupView) -> GroupOut:
        group: ActualGroup = view.group
        return cls(
            id=group.id,
            name=group.name,
            scim_managed=group.scim_managed,
            member_count=view.member_count,
            permissions=_permissions(view.permissions),
        )


class GroupList(BaseModel):
    groups: list[GroupOut]


class Billing(BaseModel):
    billed_members: int


class AccessCheck(BaseModel):
    allowed: bool
    reason: str


class SsoOut(BaseModel):
    domains: list[str]
    provider: str
    sso_configured: bool
    scim_enabled: bool

    @classmethod
    def of(cls, policy: TenantPolicy, provider: str) -> SsoOut:
        return cls(
            domains=sorted(policy.sso_domains),
            provider=provider,
            sso_configured=policy.sso_configured,
            scim_enabled=policy.scim_enabled,
        )


class SsoRemoval(BaseModel):
    counts: dict[str, int]  # cascade actions applied, per kind
    tokens_revoked: int  # SCIM tokens
    webhook_secrets_revoked: int = 0  # webhook signing keys and Okta hook secrets

    @classmethod
    def of(cls, report: CascadeReport) -> SsoRemoval:
        return cls(
            counts=report.counts,
            tokens_revoked=report.tokens_revoked,
            webhook_secrets_revoked=report.webhook_secrets_revoked,
        )


class ScimEnabled(BaseModel):
    token: str  # shown once; only its hash is stored
    base_url: str


class AuditEntryOut(BaseModel):
    id: int
    actor: str  # the admin token id, "worker", "reconciler" or "cli"
    action: str
    target: str | None
    detail: dict[str, Any]
    at: datetime

    @classmethod
    def of(cls, entry: AuditRecord) -> AuditEntryOut:
        return cls(
            id=entry.id,
            actor=entry.actor,
            action=entry.action,
            target=entry.target,
            detail=entry.detail,
            at=entry.at,
        )


class AuditLog(BaseModel):
    entries: list[AuditEntryOut]
