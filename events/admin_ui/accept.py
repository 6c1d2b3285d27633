"""The invitee's side: `/invitations/{token}` opens the accept page, where the person
sets a password (hashed with argon2id) and becomes an active member. The link works
once and until it expires; every other case says why in words."""

from __future__ import annotations

from argon2 import PasswordHasher
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from events.admin_ui.pages import form, page
from events.runtime import Runtime, runtime
from reconciler import invitations
from reconciler.errors import NotFound, RuleRefusal
from storage.clock import utcnow
from storage.workspace.invitations import invitation_unit_of_work

router = APIRouter(tags=["invitations"])
hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
MIN_PASSWORD = 12


def _refused(refused: RuleRefusal | NotFound) -> HTMLResponse:
    status = 404 if isinstance(refused, NotFound) else 410
    return page("invitation_invalid.html", status, reason=refused.detail)


@router.get("/invitations/{token}")
def accept_form(token: str, rt: Runtime = Depends(runtime)) -> Response:
    try:
        with invitation_unit_of_work(rt.engine, write=False) as store:
            invitation = invitations.check_link(store, token=token, now=utcnow())
    except (RuleRefusal, NotFound) as refused:
        return _refused(refused)
    return page("accept.html", email=invitation.email, error=None)


@router.post("/invitations/{token}")
async def accept(request: Request, token: str, rt: Runtime = Depends(runtime)) -> Response:
    fields = await form(request)
    password, again = fields.get("password", ""), fields.get("confirm", "")
    error = None
    if len(password) < MIN_PASSWORD:
        error = f"Choose a password of at least {MIN_PASSWORD} characters."
    elif password != again:
        error = "The two passwords differ."
    try:
        with invitation_unit_of_work(rt.engine, write=False) as store:
            invitation = invitations.check_link(store, token=token, now=utcnow())
        if error is not None:
            return page("accept.html", 400, email=invitation.email, error=error)
        with invitation_unit_of_work(rt.engine) as store:
            member = invitations.accept_with_link(
                store, token=token, password_hash=hasher.hash(password), now=utcnow()
            )
    except (RuleRefusal, NotFound) as refused:
        return _refused(refused)
    return page("accepted.html", email=member.email)
