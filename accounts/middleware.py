"""Request-side rules of a login session (DESIGN.md §4).

- An authenticated session that is not a client-custody login (one left from
  version 1, which kept a sealed identity under a key cookie) is logged out.
- A half-logged-in session (auth key accepted, second factor pending, or
  with mandatory 2FA: email verification, then enrolment pending) reaches only
  the views named in ``HALF_LOGGED_IN_ALLOWED``, its stage's ``STAGE_ALLOWED``
  and the browser shell (accounts.views.v2.app, whose script runs the login
  steps); everything else answers 403 (API) or redirects to the shell (pages).
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

from accounts import actions, stages
from accounts.errors import ApiError, MethodNotAllowed, error_response
from accounts.models import LoginSession
from accounts.views.v2 import app as shell_view

# URL names a half-logged-in session may reach.
HALF_LOGGED_IN_ALLOWED = {
    "api-csrf", "health", "health-live", "health-ready", "metrics",
    "api-auth-otp", "api-recovery-confirm",
    "logout", "api-auth-logout",
}
# Only while 2FA is mandatory and no device is confirmed yet.
ENROLMENT_ALLOWED = {"api-me-totp", "api-me-totp-confirm"}
# Only while 2FA is mandatory and the address is not verified yet (before enrolment).
VERIFY_ALLOWED = {"verify-email-pending", "verify-email", "verify-email-resend",
                  "api-verify-email", "api-verify-email-resend"}

STAGE_ALLOWED = {stages.STAGE_ENROL: ENROLMENT_ALLOWED, stages.STAGE_VERIFY: VERIFY_ALLOWED}

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
        return blocked if blocked is not None else self.get_response(request)

    def check(self, request):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        if not stages.client_custody(request.session):
            logout(request)  # flushes the session, the sealed box of an old login included
            return None
        stage = stages.auth_stage(request.session)
        login = (LoginSession.objects.filter(session_key=request.session.session_key,
                                             ended_at__isnull=True).first()
                 if request.session.session_key else None)
        reason = actions.check_login_current(login, stage)
        if reason is not None:
            # Too old, idle or unfinished: the request goes on as an anonymous one.
            actions.do_expire_login(request, login, reason)
            return None
        if stage == stages.STAGE_DONE:
            if request.META.get(BACKGROUND_HEADER) != "1":
                self.touch(login)
            return None
        if stage == stages.STAGE_VERIFY and request.user.email_verified:
            # The link was confirmed (here or in another browser): on to enrolment.
            stage = stages.STAGE_ENROL
            stages.set_auth_stage(request, stage)
        try:
            match = resolve(request.path_info)
        except Resolver404:
            match = None
        # view_name carries the namespace: "admin:logout" is not the site's "logout".
        name = match.view_name if match is not None else None
        allowed = HALF_LOGGED_IN_ALLOWED | STAGE_ALLOWED.get(stage, set())
        if (name in allowed or request.path_info.startswith("/static/")
                or (match is not None and match.func is shell_view)):
            # The shell holds nothing of the account in its HTML: its own login steps
            # must survive a reload in the middle of a login, on any of its paths.
            return None
        if request.path_info.startswith("/api/"):
            if stage == stages.STAGE_VERIFY:
                return error_response(ApiError(
                    "Finish logging in: confirm your email address with the link we sent.",
                    code="email_verification_required", status=403))
            return error_response(ApiError(
                "Finish logging in: enter your authentication code first.",
                code="second_factor_required", status=403))
        return redirect("home")  # the shell shows this login's next step

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
