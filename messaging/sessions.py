"""Is an open socket's login still valid? (the periodic re-check of DESIGN.md §4)."""

from __future__ import annotations

from importlib import import_module

from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
from django.utils.crypto import constant_time_compare

from accounts import stages
from accounts.actions import check_login_current
from accounts.models import LoginSession, User


def session_still_valid(session_key: str | None, user_id: int) -> bool:
    """False when the session ended or expired (idle or lifetime too), the password changed
    or the user is inactive."""
    if not session_key:
        return False
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    data = store.load()
    if str(data.get(SESSION_KEY)) != str(user_id):
        return False
    if data.get(stages.SESSION_STAGE) != stages.STAGE_DONE:
        return False
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return False
    # The same idle and absolute limits as HTTP requests (the socket's own
    # heartbeats do not count as use).
    login = LoginSession.objects.filter(session_key=session_key, ended_at__isnull=True).first()
    if check_login_current(login, stages.STAGE_DONE) is not None:
        return False
    return constant_time_compare(data.get(HASH_SESSION_KEY, ""), user.get_session_auth_hash())
