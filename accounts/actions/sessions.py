"""A user's login sessions: listing helpers and revocation."""

from __future__ import annotations

import logging
from datetime import timedelta
from importlib import import_module

from django.conf import settings
from django.contrib.auth import logout
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from accounts import (
    events,  # events.close_session_sockets at call time (tests record it)
    stages,
)
from accounts.actions.base import audit, request_ip
from accounts.models import (
    LoginSession,
)

logger = logging.getLogger(__name__)


def access_login_session(user, session_id) -> LoginSession:
    """The user's own active login ``session_id``, or Http404 (another user's id included)."""
    try:
        return LoginSession.objects.active().get(user=user, pk=int(session_id))
    except (LoginSession.DoesNotExist, TypeError, ValueError):
        raise Http404("No such session.") from None


def end_login_sessions_by_key(user, session_keys) -> None:
    """Delete these Django sessions of the user, end their logins, close their sockets."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    session_keys = list(session_keys)
    for key in session_keys:
        store(session_key=key).delete()
        events.close_session_sockets(key)
    LoginSession.objects.filter(user=user, session_key__in=session_keys,
                                ended_at__isnull=True).update(ended_at=timezone.now())


def end_login_sessions(user, *, keep_session_key: str | None = None) -> int:
    """Inside a transaction: end the user's logins (but ``keep_session_key``).

    Each Django session is deleted (its cookies become worthless), the login
    marked ended and, after commit, that session's sockets closed.
    """
    logins = LoginSession.objects.active().filter(user=user)
    if keep_session_key:
        logins = logins.exclude(session_key=keep_session_key)
    session_keys = list(logins.select_for_update().values_list("session_key", flat=True))
    end_login_sessions_by_key(user, session_keys)
    return len(session_keys)


def check_login_current(login: LoginSession | None, stage: str | None, now=None) -> str | None:
    """Why this login must end now ("half_login", "idle", "lifetime"), or None.

    Measured on the ``LoginSession`` row, which starts at the password step and
    whose ``last_seen_at`` the middleware refreshes once a minute: a
    half-login (``stage`` not "done") lives ``SECURECHAT_HALF_LOGIN_SECONDS``;
    a complete one ``SECURECHAT_SESSION_IDLE_SECONDS`` without use and
    ``SESSION_COOKIE_AGE`` in all (Django's own expiry moves on every save, so
    it is no absolute limit). No row (a session made outside the login flow):
    nothing to measure, None.
    """
    if login is None:
        return None
    now = now or timezone.now()
    if stage != stages.STAGE_DONE and now - login.created_at > timedelta(
            seconds=settings.SECURECHAT_HALF_LOGIN_SECONDS):
        return "half_login"
    if now - login.created_at > timedelta(seconds=settings.SESSION_COOKIE_AGE):
        return "lifetime"
    if now - login.last_seen_at > timedelta(seconds=settings.SECURECHAT_SESSION_IDLE_SECONDS):
        return "idle"
    return None


def do_expire_login(request, login: LoginSession, reason: str) -> None:
    """End this request's login (``check_login_current`` said why): sockets, row, cookies.

    The request continues as anonymous; the caller decides what to answer.
    """
    with transaction.atomic():
        end_login_sessions_by_key(request.user, [login.session_key])
        audit("session_expired", request.user, ip=request_ip(request))
    logger.info("login %s ended: %s", login.pk, reason)
    stages.forget_everything(request)
    logout(request)


def active_login_sessions(user):
    """The user's logins that have not ended, newest activity first."""
    return LoginSession.objects.active().filter(user=user)


def do_revoke_session(user, login_session: LoginSession, *, request=None) -> bool:
    """End one of the user's logins (its sockets close); when it is the request's own,
    this session's bookkeeping and cookies go too. Whether it was the request's own."""
    current = request is not None and login_session.session_key == request.session.session_key
    with transaction.atomic():
        end_login_sessions_by_key(user, [login_session.session_key])
        audit("session_revoked", user, ip=request_ip(request))
    if current:
        stages.forget_everything(request)
        request.session.flush()
    return current


def do_revoke_other_sessions(user, current_session_key: str | None, *, request=None) -> int:
    with transaction.atomic():
        ended = end_login_sessions(user, keep_session_key=current_session_key)
        if ended:
            audit("session_revoked", user, ip=request_ip(request))
    return ended
