"""Session, CSRF, origin and login-stage checks for the raw upload app.

The tus application runs before Django, so Django's middleware does not run
for it. This module applies the same rules through the same code: the session
from the session cookie (Django's ``SessionStore``), the user from
``django.contrib.auth.get_user`` (which checks the session's auth hash),
Django's ``CsrfViewMiddleware`` on an ``ASGIRequest`` built from the scope
(the ``X-CSRFToken`` header against the CSRF cookie, plus Django's own origin
check), the strict origin rule of ``SECURECHAT_ORIGINS`` (scheme, host and
port), and the login stage of ``accounts.stages``: a complete client-custody
login (stage "done" is only reached after the second factor when a device is
confirmed). The server holds no key for the caller and needs none: the
client uploads the age file it made. All of it is synchronous: call
``authenticate`` through ``sync_to_async``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from importlib import import_module

from django.conf import settings
from django.contrib.auth import get_user
from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIRequest
from django.middleware.csrf import CsrfViewMiddleware

from accounts import stages
from accounts.errors import ApiError
from accounts.origins import origin_allowed

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class AuthError(ApiError):
    """The caller of the raw upload app is not allowed (not logged in, CSRF, origin, stage)."""

    def __init__(self, status: int, code: str, detail: str):
        super().__init__(detail, code=code, status=status)


@dataclass
class Caller:
    """A logged-in uploader: its keys stay on the client."""

    user: object
    session_key: str


def _csrf_exempt_never(request):  # the "view" CsrfViewMiddleware checks for
    return None


def authenticate(scope) -> Caller:
    """The logged-in caller of this scope (a complete client-custody login), or
    ``AuthError``."""
    request = ASGIRequest(scope, io.BytesIO())
    engine = import_module(settings.SESSION_ENGINE)
    session_key = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
    request.session = engine.SessionStore(session_key)
    user = get_user(request)
    if not user.is_authenticated:
        raise AuthError(401, "not_logged_in", "Log in first.")
    if request.method not in SAFE_METHODS:
        if not origin_allowed(request.headers.get("Origin")):
            raise AuthError(403, "bad_origin", "The Origin header is missing or not this site.")
        middleware = CsrfViewMiddleware(lambda r: None)
        try:
            middleware.process_request(request)
            rejected = middleware.process_view(request, _csrf_exempt_never, (), {})
        except DisallowedHost:
            raise AuthError(400, "bad_host", "The Host header is not allowed.") from None
        if rejected is not None:
            raise AuthError(403, "csrf_failed",
                            "CSRF check failed: send X-CSRFToken from /api/v1/csrf.")
    if stages.auth_stage(request.session) != stages.STAGE_DONE:
        raise AuthError(403, "second_factor_required",
                        "Finish logging in: enter your authentication code first.")
    if not stages.client_custody(request.session):
        # A session of the deleted server-custody login: it can upload nothing here.
        raise AuthError(401, "not_logged_in", "Log in again.")
    return Caller(user, request.session.session_key)
