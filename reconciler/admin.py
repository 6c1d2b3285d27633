"""The Members page's operations: one service per admin action, for the admin API and the CLI.

Each write loads the tenant's policy first (a write store locks the tenant row),
checks its rules (reconciler/rules.py), writes through the `AdminStore`, records
one audit entry whose actor is the caller's (the admin token's id, or "cli"),
and returns. Unknown ids raise `NotFound`; rules refuse with `RuleRefusal`.
SSO and SCIM: reconciler/sso.py; workspaces and their admin token:
reconciler/workspaces.py.
"""

from __future__ import annotations

from collections.abc import Sequence

from reconciler import rules
from reconciler.admin_store import AdminStore, AuditRecord, GroupView, MemberDetail
from reconciler.errors import NotFound
from reconciler.ids import new_id
from reconciler.model import (
    Access,
    ActualGroup,
    ActualMember,
    DeleteGroup,
    DeleteMember,
    MemberStatus,
    RenameGroup,
    TenantPolicy,
)
from reconciler.rules import Trigger


def load_policy(store: AdminStore, tenant_id: str) -> TenantPolicy:
    policy = store.load_policy(tenant_id)
    if policy is None:
        raise NotFound(f"workspace {tenant_id} not found")
    return policy


def _member(store: AdminStore, tenant_id: str, member_id: str) -> ActualMember:
    member = store.find_member(tenant_id, member_id=member_id)
    if member is None:
        raise NotFound(f"member {member_id} not found")
    return member


def _group(store: AdminStore, tenant_id: str, group_id: str) -> ActualGroup:
    group = store.find_group(tenant_id, group_id)
    if group is None:
        raise NotFound(f"group {group_id} not found")
    return group


# --- members (rules 3, 4, 6, 8, 9) ------------------------------------------------------------


def list_members(
    store: AdminStore,
    *,
    tenant_id: str,
    status: MemberStatus | None,
    after: str | None = None,
    limit: int | None = None,
) -> tuple[list[ActualMember], dict[MemberStatus, int]]:
    """A page of one tab of the member list (all members when `status` is None): those
    whose email sorts after `after`, at most `limit`; and every tab's size."""
    load_policy(store, tenant_id)  # an unknown workspace is an error, not an empty list
    found = store.member_counts(tenant_id)
    counts = {tab: found.get(tab, 0) for tab in rules.MEMBER_TABS}
    return store.list_members(tenant_id, status, after=after, limit=limit), counts


def get_member(store: AdminStore, *, tenant_id: str, member_id: str) -> MemberDetail:
    """Groups, effective permissions (kept while deactivated, rule 4) and the login check."""
    member = _member(store, tenant_id, member_id)
    allowed, reason = rules.can_login(member, load_policy(store, tenant_id))
    return MemberDetail(
        member=member,
        groups=store.member_groups(tenant_id, member_id),
        permissions=rules.effective_permissions(store.member_grants(tenant_id, member_id)),
        can_login=allowed,
        login_reason=reason,
    )


def invite_member(
    store: AdminStore, *, tenant_id: str, email: str, display_name: str | None, actor: str
) -> MemberDetail:
    """A new native member, pending until the invitation is accepted."""
    load_policy(store, tenant_id)
    rules.check_admin_invite(store.find_member(tenant_id, email=email))
    member = ActualMember(
        new_id(), email, email.lower(), MemberStatus.PENDING, display_name=display_name
    )
    store.insert_member(tenant_id, member)
    store.open_invitation(tenant_id, member.id, email)
    target = f"member:{member.id}"
    store.audit(
        tenant_id, actor=actor, action="invite_member", target=target, detail={"email": email}
    )
    return get_member(store, tenant_id=tenant_id, member_id=member.id)


def accept_invitation(
    store: AdminStore, *, tenant_id: str, member_id: str, actor: str
) -> MemberDetail:
    """Rule 3: the pending member sets a password and becomes active."""
    load_policy(store, tenant_id)
    member = _member(store, tenant_id, member_id)
    rules.check_accept_invitation(member)
    current = (member.status, member.status_before_deactivation)
    store.accept_invitation(
        tenant_id, member_id, rules.status_after(current, Trigger.INVITATION_ACCEPTED)
    )
    store.audit(tenant_id, actor=actor, action="accept_invitation", target=f"member:{member_id}")
    return get_member(store, tenant_id=tenant_id, member_id=member_id)


def delete_member(store: AdminStore, *, tenant_id: str, member_id: str, actor: str) -> None:
    """Rule 6: never a SCIM-managed member (manage it in the IdP), never the Owner.

    Through the workspace's write path, which audits it (`delete_member`)."""
    policy = load_policy(store, tenant_id)
    member = _member(store, tenant_id, member_id)
    rules.check_admin_delete_member(member, policy)
    store.apply(tenant_id, [DeleteMember(member.id, member.email_ci)], actor)


def billed_members(store: AdminStore, *, tenant_id: str) -> int:
    """Rule 8: active members only."""
    counts = store.member_counts(tenant_id)
    return sum(counts.get(status, 0) for status in rules.BILLABLE_STATUSES)


def check_access(store: AdminStore, *, tenant_id: str, email: str) -> tuple[bool, str]:
    """The login check: whether the person may enter the workspace, and why."""
    policy = load_policy(store, tenant_id)
    return rules.can_login(store.find_member(tenant_id, email=email), policy)


def list_audit(store: AdminStore, *, tenant_id: str, limit: int) -> list[AuditRecord]:
    return store.audit_entries(tenant_id, limit=limit)


# --- groups and permissions (rules 6 and 7) -------------------------------------------------


def list_groups(store: AdminStore, *, tenant_id: str) -> list[GroupView]:
    load_policy(store, tenant_id)  # an unknown workspace is an error, not an empty list
    return store.list_groups(tenant_id)


def _group_view(store: AdminStore, tenant_id: str, group_id: str) -> GroupView:
    return store.list_groups(tenant_id, group_id)[0]


def create_group(store: AdminStore, *, tenant_id: str, name: str, actor: str) -> GroupView:
    """A native group: the admin's to rename, delete and fill."""
    load_policy(store, tenant_id)
    rules.check_group_name_free(name, store.group_names_taken(tenant_id, name))
    group_id = new_id()
    store.create_group(tenant_id, group_id=group_id, name=name)
    target = f"group:{group_id}"
    store.audit(tenant_id, actor=actor, action="create_group", target=target, detail={"name": name})
    return _group_view(store, tenant_id, group_id)


def rename_group(
    store: AdminStore, *, tenant_id: str, group_id: str, name: str, actor: str
) -> GroupView:
    """Rule 7: never a SCIM group. Through the workspace's write path (`rename_group`)."""
    load_policy(store, tenant_id)
    group = _group(store, tenant_id, group_id)
    rules.check_admin_rename_group(group)
    taken = store.group_names_taken(tenant_id, name, other_than=group_id)
    rules.check_group_name_free(name, taken)
    store.apply(tenant_id, [RenameGroup(group.id, name)], actor)
    return _group_view(store, tenant_id, group_id)


def delete_group(store: AdminStore, *, tenant_id: str, group_id: str, actor: str) -> None:
    """Rule 7: never a SCIM group; memberships and permissions go with it."""
    load_policy(store, tenant_id)
    group = _group(store, tenant_id, group_id)
    rules.check_admin_delete_group(group)
    store.apply(tenant_id, [DeleteGroup(group.id, group.name)], actor)


def add_group_member(
    store: AdminStore, *, tenant_id: str, group_id: str, member_id: str, actor: str
) -> None:
    """Rule 6: a SCIM-managed member may join a native group. Adding a member already
    in the group changes nothing (and audits nothing)."""
    load_policy(store, tenant_id)
    group = _group(store, tenant_id, group_id)
    _member(store, tenant_id, member_id)
    rules.check_admin_change_group_members(group)
    if store.add_group_member(tenant_id, group_id, member_id):
        store.audit(
            tenant_id,
            actor=actor,
            action="add_group_member",
            target=f"group:{group_id}",
            detail={"member_id": member_id},
        )


def remove_group_member(
    store: AdminStore, *, tenant_id: str, group_id: str, member_id: str, actor: str
) -> None:
    load_policy(store, tenant_id)
    group = _group(store, tenant_id, group_id)
    _member(store, tenant_id, member_id)
    rules.check_admin_change_group_members(group)
    if not store.remove_group_member(tenant_id, group_id, member_id):
        raise NotFound(f"member {member_id} is not in group {group_id}")
    store.audit(
        tenant_id,
        actor=actor,
        action="remove_group_member",
        target=f"group:{group_id}",
        detail={"member_id": member_id},
    )


def set_group_permissions(
    store: AdminStore,
    *,
    tenant_id: str,
    group_id: str,
    grants: Sequence[tuple[str, Access]],
    actor: str,
) -> GroupView:
    """Replaces the group's permissions; allowed on SCIM groups too (rule 7)."""
    load_policy(store, tenant_id)
    _group(store, tenant_id, group_id)
    store.set_group_permissions(tenant_id, group_id, grants)
    store.audit(
        tenant_id,
        actor=actor,
        action="set_group_permissions",
        target=f"group:{group_id}",
        detail={"permissions": [{"path": p, "access": a.value} for p, a in grants]},
    )
    return _group_view(store, tenant_id, group_id)
