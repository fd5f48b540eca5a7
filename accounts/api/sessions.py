"""JSON endpoints for one's own login sessions (docs/api.md).

A session is listed with its device label, client address, when it started
and when it was last seen; ``current`` marks the one making the request.
Revoking deletes the Django session (both cookies become worthless) and
closes its websockets. Another user's session id answers 404, like one that
does not exist.
"""

from __future__ import annotations

from django.http import JsonResponse

from accounts import actions
from accounts.api import api_view
from accounts.models import LoginSession


def session_payload(login: LoginSession, current_key: str | None) -> dict:
    return {
        "id": login.pk,
        "device": login.device_label,
        "ip_address": login.ip_address,
        "created_at": login.created_at.isoformat(),
        "last_seen_at": login.last_seen_at.isoformat(),
        "current": login.session_key == current_key,
    }


@api_view("GET", login_required=True)
def sessions(request, body):
    """``[{id, device, ip_address, created_at, last_seen_at, current}]``, newest activity first."""
    current_key = request.session.session_key
    logins = actions.active_login_sessions(request.user)
    return JsonResponse([session_payload(login, current_key) for login in logins], safe=False)


@api_view("DELETE", login_required=True)
def session_detail(request, body, session_id: int):
    """Revoke one of one's own sessions (this one included: that is a logout elsewhere)."""
    login = actions.access_login_session(request.user, session_id)
    current = actions.do_revoke_session(request.user, login, request=request)
    return JsonResponse({"ok": True, "current": current})


@api_view("POST", login_required=True)
def revoke_others(request, body):
    """End every session of the user except this one."""
    ended = actions.do_revoke_other_sessions(request.user, request.session.session_key,
                                             request=request)
    return JsonResponse({"ok": True, "ended": ended})
