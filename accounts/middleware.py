"""Request-side rules of a login session (DESIGN.md §4).

- The key cookie is set or deleted on the response next to the session cookie.
- An authenticated session without a valid key cookie is logged out.
- A half-logged-in session (password accepted, second factor pending, or
  with mandatory 2FA: email verification, then enrolment pending) reaches only
  the views named in ``HALF_LOGGED_IN_ALLOWED`` and its stage's
  ``STAGE_ALLOWED``; everything else answers 403 (API) or redirects to the next
  login step (pages).
- The login's "last seen" is refreshed at most once a minute.
- A login past its half-login, idle or absolute limit
  (``accounts.actions.check_login_current``) is ended and the request goes on
  as anonymous.
"""

from datetime import timedelta

from django.contrib.auth import logout
from django.shortcuts import redirect
from django.urls import Resolver404, resolve
from django.utils import timezone
from django.utils.deprecation import MiddlewareMixin

from accounts import actions, unlock
from accounts.errors import ApiError, MethodNotAllowed, error_response
from accounts.models import LoginSession
from accounts.urls_v2 import SHELL_NAMES

# URL names a half-logged-in session may reach.
HALF_LOGGED_IN_ALLOWED = {
    "api-csrf", "health", "health-live", "health-ready", "metrics",
    "login-code", "api-auth-otp",
    "recovery-code", "api-recovery-confirm",
    "logout", "api-auth-logout",
    # The version 2 shell holds nothing of the account in its HTML: its own code step
    # (api-auth-otp above) and enrolment stage must survive a reload in the middle of a
    # login, on any of its paths.
    "v2-app", *SHELL_NAMES,
}
# Only while 2FA is mandatory and no device is confirmed yet.
ENROLMENT_ALLOWED = {"totp-setup", "api-me-totp", "api-me-totp-confirm"}
# Only while 2FA is mandatory and the address is not verified yet (before enrolment).
VERIFY_ALLOWED = {"verify-email-pending", "verify-email", "verify-email-resend",
                  "api-verify-email", "api-verify-email-resend"}

STAGE_ALLOWED = {unlock.STAGE_ENROL: ENROLMENT_ALLOWED, unlock.STAGE_VERIFY: VERIFY_ALLOWED}
NEXT_STEP = {unlock.STAGE_ENROL: "totp-setup", unlock.STAGE_VERIFY: "verify-email-pending"}

LAST_SEEN_EVERY = timedelta(minutes=1)
# A tab's own periodic "is my session still alive?" (the v2 shell's re-check) carries
# this header. Like a socket's heartbeat it is not use: an open tab left alone still
# reaches the idle limit. Sending it can only shorten a session, never extend one.
BACKGROUND_HEADER = "HTTP_X_SECURECHAT_BACKGROUND"


class LoginSessionMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        blocked = self.check(request)
        response = blocked if blocked is not None else self.get_response(request)
        unlock.apply_key_cookie(request, response)
        return response

    def check(self, request):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        if not unlock.has_key_cookie(request) and not unlock.client_custody(request.session):
            logout(request)
            unlock.forget_everything(request)
            return None
        stage = unlock.auth_stage(request.session)
        login = (LoginSession.objects.filter(session_key=request.session.session_key,
                                             ended_at__isnull=True).first()
                 if request.session.session_key else None)
        reason = actions.check_login_current(login, stage)
        if reason is not None:
            # Too old, idle or unfinished: the request goes on as an anonymous one.
            actions.do_expire_login(request, login, reason)
            return None
        if stage == unlock.STAGE_DONE:
            if request.META.get(BACKGROUND_HEADER) != "1":
                self.touch(login)
            return None
        if stage == unlock.STAGE_VERIFY and request.user.email_verified:
            # The link was confirmed (here or in another browser): on to enrolment.
            stage = unlock.STAGE_ENROL
            unlock.set_auth_stage(request, stage)
        try:
            # view_name carries the namespace: "admin:logout" is not the site's "logout".
            name = resolve(request.path_info).view_name
        except Resolver404:
            name = None
        allowed = HALF_LOGGED_IN_ALLOWED | STAGE_ALLOWED.get(stage, set())
        if name in allowed or request.path_info.startswith("/static/"):
            return None
        if request.path_info.startswith("/api/"):
            if stage == unlock.STAGE_VERIFY:
                return error_response(ApiError(
                    "Finish logging in: confirm your email address with the link we sent.",
                    code="email_verification_required", status=403))
            return error_response(ApiError(
                "Finish logging in: enter your authentication code first.",
                code="second_factor_required", status=403))
        return redirect(NEXT_STEP.get(stage, "login-code"))

    def touch(self, login):
        """The idle timeout counts from here; at most one write a minute per login."""
        now = timezone.now()
        if login is not None and login.last_seen_at < now - LAST_SEEN_EVERY:
            LoginSession.objects.filter(pk=login.pk, ended_at__isnull=True).update(
                last_seen_at=now)


class JsonMethodNotAllowedMiddleware(MiddlewareMixin):
    """Every 405 is the API's JSON error with ``Allow``, pages included (one mapping).

    Django's ``require_http_methods`` answers an empty ``HttpResponseNotAllowed``;
    this turns it into ``error_response(MethodNotAllowed(...))`` keeping its
    ``Allow``. Innermost in ``MIDDLEWARE`` so the security headers still apply.
    """

    def process_response(self, request, response):
        if response.status_code != 405 or response.get("Content-Type", "").startswith(
                "application/json"):
            return response
        allowed = [m.strip() for m in response.get("Allow", "").split(",") if m.strip()]
        return error_response(MethodNotAllowed(allowed))
