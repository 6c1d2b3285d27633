"""Invitations (rule 3): an admin sends one to a pending member; the person follows a
single-use, expiring link and sets a password, and becomes active.

The link carries a random token; only its SHA-256 is stored, so the table cannot be
used to accept anyone's invitation. A token is issued when the mail is delivered
(`issue_link`), not when the admin clicks Send: each delivery attempt makes a fresh
link and the older one stops working, so a resend never leaves two live links.
Passwords arrive already hashed (the edge hashes with argon2): the core never sees
the algorithm, only that the member now has a password.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from reconciler import rules
from reconciler.errors import NotFound, RuleRefusal
from reconciler.ids import new_id
from reconciler.model import ActualMember, TenantPolicy
from reconciler.rules import StatusPair, Trigger

INVITEE = "invitee"  # the audit actor of an acceptance: the person, not an admin token


class InvitationState(StrEnum):
    NOT_SENT = "not_sent"  # opened (by the IdP's create or the SSO cascade), never mailed
    SENT = "sent"
    EXPIRED = "expired"
    ACCEPTED = "accepted"
    REVOKED = "revoked"


@dataclass(frozen=True)
class Invitation:
    id: str
    tenant_id: str
    member_id: str
    email: str
    created_at: datetime
    sent_at: datetime | None = None
    expires_at: datetime | None = None
    accepted_at: datetime | None = None
    revoked_at: datetime | None = None
    sends: int = 0

    def state(self, now: datetime) -> InvitationState:
        if self.accepted_at is not None:
            return InvitationState.ACCEPTED
        if self.revoked_at is not None:
            return InvitationState.REVOKED
        if self.sent_at is None or self.expires_at is None:
            return InvitationState.NOT_SENT
        return InvitationState.EXPIRED if now >= self.expires_at else InvitationState.SENT


class InvitationStore(Protocol):
    """Implemented over SQL by storage/workspace/invitations.py; never commits."""

    def load_policy(self, tenant_id: str) -> TenantPolicy | None: ...

    def find_member(
        self, tenant_id: str, *, member_id: str | None = None, email: str | None = None
    ) -> ActualMember | None: ...

    def open_invitation_for(self, tenant_id: str, member_id: str) -> Invitation | None:
        """The member's invitation that is neither accepted nor revoked, if any."""

    def find_invitation(self, tenant_id: str, invitation_id: str) -> Invitation | None: ...

    def find_by_token(self, token_hash: str) -> Invitation | None: ...

    def insert_invitation(self, invitation: Invitation) -> None: ...

    def set_link(
        self, tenant_id: str, invitation_id: str, token_hash: str, sent: datetime, expires: datetime
    ) -> None:
        """The invitation's current link (replacing any earlier one), counted as one send."""

    def revoke_invitation(self, tenant_id: str, invitation_id: str, when: datetime) -> None: ...

    def accept(
        self,
        invitation: Invitation,
        status: StatusPair,
        password_hash: str,
        when: datetime,
    ) -> None:
        """The member's status and password are set; the invitation is accepted."""

    def pending_member_ids(self, tenant_id: str) -> list[str]: ...

    def audit(
        self,
        tenant_id: str,
        *,
        actor: str,
        action: str,
        target: str,
        detail: dict[str, Any] | None = None,
    ) -> None: ...


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _policy(store: InvitationStore, tenant_id: str) -> TenantPolicy:
    policy = store.load_policy(tenant_id)
    if policy is None:
        raise NotFound(f"workspace {tenant_id} not found")
    return policy


def _pending_member(store: InvitationStore, tenant_id: str, member_id: str) -> ActualMember:
    member = store.find_member(tenant_id, member_id=member_id)
    if member is None:
        raise NotFound(f"member {member_id} not found")
    rules.check_accept_invitation(member)  # only a pending member can be invited
    return member


def request_send(
    store: InvitationStore, *, tenant_id: str, member_id: str, actor: str, now: datetime
) -> Invitation:
    """Send (or resend) a pending member's invitation: the caller queues the mail after
    commit. The member's open invitation is reused; one is opened when there is none."""
    _policy(store, tenant_id)
    member = _pending_member(store, tenant_id, member_id)
    invitation = store.open_invitation_for(tenant_id, member_id)
    if invitation is None:
        invitation = Invitation(new_id(), tenant_id, member_id, member.email, now)
        store.insert_invitation(invitation)
    store.audit(
        tenant_id,
        actor=actor,
        action="send_invitation",
        target=f"member:{member_id}",
        detail={"invitation_id": invitation.id, "email": member.email},
    )
    return invitation


def request_send_all_pending(
    store: InvitationStore, *, tenant_id: str, actor: str, now: datetime
) -> list[Invitation]:
    """ "Invite all pending": one invitation per pending member (after the SSO cascade)."""
    _policy(store, tenant_id)
    return [
        request_send(store, tenant_id=tenant_id, member_id=member_id, actor=actor, now=now)
        for member_id in store.pending_member_ids(tenant_id)
    ]


def revoke(
    store: InvitationStore, *, tenant_id: str, invitation_id: str, actor: str, now: datetime
) -> None:
    _policy(store, tenant_id)
    invitation = store.find_invitation(tenant_id, invitation_id)
    if invitation is None:
        raise NotFound(f"invitation {invitation_id} not found")
    if invitation.state(now) is InvitationState.ACCEPTED:
        raise RuleRefusal("invitation_accepted", "the invitation was already accepted")
    store.revoke_invitation(tenant_id, invitation_id, now)
    store.audit(
        tenant_id,
        actor=actor,
        action="revoke_invitation",
        target=f"member:{invitation.member_id}",
        detail={"invitation_id": invitation_id},
    )


def issue_link(
    store: InvitationStore, *, tenant_id: str, invitation_id: str, now: datetime, ttl: timedelta
) -> tuple[Invitation, str] | None:
    """A fresh link token for the mail about to be sent; None when the invitation was
    revoked or accepted in the meantime (nothing to send)."""
    invitation = store.find_invitation(tenant_id, invitation_id)
    if invitation is None or invitation.state(now) in (
        InvitationState.ACCEPTED,
        InvitationState.REVOKED,
    ):
        return None
    token = secrets.token_urlsafe(32)
    store.set_link(tenant_id, invitation_id, token_hash(token), now, now + ttl)
    return store.find_invitation(tenant_id, invitation_id) or invitation, token


_REFUSED: dict[InvitationState, tuple[str, str]] = {
    InvitationState.EXPIRED: (
        "invitation_expired",
        "this invitation has expired; ask an administrator to send a new one",
    ),
    InvitationState.ACCEPTED: ("invitation_used", "this invitation was already used"),
    InvitationState.REVOKED: ("invitation_revoked", "this invitation was revoked"),
    InvitationState.NOT_SENT: ("invitation_unknown", "this invitation link is not valid"),
}


def check_link(store: InvitationStore, *, token: str, now: datetime) -> Invitation:
    """The invitation a link opens, while it can still be accepted."""
    invitation = store.find_by_token(token_hash(token))
    if invitation is None:
        raise NotFound("this invitation link is not valid")
    state = invitation.state(now)
    if state is not InvitationState.SENT:
        raise RuleRefusal(*_REFUSED[state])
    return invitation


def accept_with_link(
    store: InvitationStore, *, token: str, password_hash: str, now: datetime
) -> ActualMember:
    """Rule 3 by the person: the link is valid once, before it expires; the pending member
    gets the password and becomes active."""
    found = check_link(store, token=token, now=now)
    _policy(store, found.tenant_id)  # locks the tenant for the status change
    invitation = check_link(store, token=token, now=now)  # again, under the lock
    member = _pending_member(store, invitation.tenant_id, invitation.member_id)
    current = (member.status, member.status_before_deactivation)
    status = rules.status_after(current, Trigger.INVITATION_ACCEPTED)
    store.accept(invitation, status, password_hash, now)
    store.audit(
        invitation.tenant_id,
        actor=INVITEE,
        action="accept_invitation",
        target=f"member:{member.id}",
        detail={"invitation_id": invitation.id},
    )
    accepted = store.find_member(invitation.tenant_id, member_id=member.id)
    return accepted or member
