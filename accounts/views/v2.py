"""The version 2 browser shell, served at every page path of accounts/urls_v2.py: one
document whose script (static/js/v2/app.js) runs signup, login, the recovery code, the
profile and the signed-in views on the client (issue 12); its router picks the view
from the path.

The page holds no account data: the script asks the API. What it carries is the
deployment's public configuration (key type, password rules, re-check interval) and
the common-password list the client-side rules use (the server's own list, shipped
with the page, since the server never sees a version 2 password).
"""

from __future__ import annotations

from functools import cache

from django.conf import settings
from django.contrib.auth.password_validation import CommonPasswordValidator
from django.http import HttpResponsePermanentRedirect
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_safe

MIN_PASSWORD_LENGTH = 12  # settings.AUTH_PASSWORD_VALIDATORS' MinimumLengthValidator


@cache
def common_passwords() -> list[str]:
    """Django's common-password list (the validator the server uses for version 1), only
    the entries long enough to pass the length rule: the shorter ones are refused anyway."""
    return sorted(p for p in CommonPasswordValidator().passwords if len(p) >= MIN_PASSWORD_LENGTH)


@never_cache
@require_GET
def app(request, **params):
    """The shell; ``config.route`` is the URL name of the path (the router reads the path
    itself: a pushState navigation never asks the server)."""
    config = {
        "route": request.resolver_match.url_name if request.resolver_match else None,
        "keyType": settings.SECURECHAT_KEY_TYPE,
        "minPasswordLength": MIN_PASSWORD_LENGTH,
        "maxPasswordLength": settings.SECURECHAT_PASSWORD_MAX_LENGTH,
        "recheckSeconds": settings.SECURECHAT_V2_RECHECK_SECONDS,
        "passwordResetUrl": "/password-reset/",  # a path of the shell (urls_v2.py)
        "registration": settings.SECURECHAT_REGISTRATION,  # the chat offers invitations
        # The largest file the chat previews (static/js/v2/files/preview.js).
        "previewMax": settings.SECURECHAT_PREVIEW_MAX,
        # The websocket's heartbeat: the chat takes a connection silent for longer as dead.
        "heartbeatSeconds": settings.SECURECHAT_WS_HEARTBEAT_SECONDS,
    }
    return render(request, "v2/app.html", {"v2_config": config,
                                           "common_passwords": common_passwords()})


@require_safe
def moved(request):
    """/v2/, the shell's address beside version 1: permanently the site's root."""
    return HttpResponsePermanentRedirect("/")
