"""The stage of a login session (DESIGN.md §4): how far the login got.

Every login keeps its keys on the client (version 2): the server holds no
identity, no key cookie and no recovery code, only this bookkeeping in the
session (the database):

    SESSION_STAGE    "otp", "verify", "enrol" (half-logged-in) or "done"
    SESSION_CUSTODY  "client": the login was made by this server's client-custody
                     login. A session without it (one left from version 1, which
                     sealed an identity under a cookie) is not a login any more.

A login is complete (``login_complete``) only at stage "done": a half-logged-in
session reaches the login steps and nothing else (accounts.middleware), and a
websocket of one is refused (accounts.websocket).
"""

from __future__ import annotations

SESSION_STAGE = "_securechat_auth_stage"
SESSION_CUSTODY = "_securechat_custody"

STAGE_DONE = "done"
STAGE_OTP = "otp"  # auth key accepted, a confirmed device must verify a code
STAGE_ENROL = "enrol"  # auth key accepted, 2FA is mandatory and no device is confirmed yet
# Before "enrol": 2FA is mandatory and the address is not verified yet (an unverified
# registration may be a squatter's, who must not dig in behind a second factor).
STAGE_VERIFY = "verify"

# Keys earlier versions kept in the session; a logout or login removes them if present.
_LEGACY_KEYS = ("_securechat_identity", "_securechat_recovery_code")


def start_client_custody(request, stage: str) -> None:
    """A new login at ``stage``: the keys stay on the client, only the stage is kept."""
    request.session[SESSION_CUSTODY] = "client"
    request.session[SESSION_STAGE] = stage


def client_custody(session) -> bool:
    """Was this session's login made by the client-custody login (every current one)?"""
    return session.get(SESSION_CUSTODY) == "client"


def auth_stage(session) -> str | None:
    return session.get(SESSION_STAGE)


def set_auth_stage(request, stage: str) -> None:
    request.session[SESSION_STAGE] = stage


def login_complete(session) -> bool:
    """A complete login: client custody and stage "done" (second factor, if any, given)."""
    return client_custody(session) and auth_stage(session) == STAGE_DONE


def forget_everything(request) -> None:
    """Logout: the login's bookkeeping goes; the caller flushes the session."""
    for key in (SESSION_STAGE, SESSION_CUSTODY, *_LEGACY_KEYS):
        request.session.pop(key, None)


def scope_login_complete(scope) -> bool:
    """The same rule for a websocket scope (``user`` and ``session`` from Channels)."""
    user = scope.get("user")
    session = scope.get("session")
    if user is None or not user.is_authenticated or session is None:
        return False
    return login_complete(session)
