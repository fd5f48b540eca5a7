"""The login steps after the auth key (accounts.actions.clientkeys): code, enrolment, logout.

The server never sees a password: ``do_client_login`` checks the auth key the
client derived and calls ``start_login`` here; the keys stay on the client and
the session keeps only its stage (accounts.stages).
"""

from __future__ import annotations

import django_otp
from django.conf import settings
from django.contrib.auth import login as django_login
from django.contrib.auth import logout as django_logout
from django.utils import timezone

from accounts import (
    events,  # events.close_session_sockets at call time (tests record it)
    stages,
)
from accounts.actions.base import WrongStep, audit, client_ip, rate_limit
from accounts.addresses import address_key
from accounts.emails import send_security_email
from accounts.metrics import LOGIN_FAILURES
from accounts.models import LoginSession, User
from accounts.otp import CodeError, has_second_factor, verify_code

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def _end_login_session(request, *, close_sockets: bool = True) -> None:
    key = request.session.session_key
    if key and LoginSession.objects.filter(session_key=key, ended_at__isnull=True).update(
            ended_at=timezone.now()) and close_sockets:
        events.close_session_sockets(key)


def login_stage(user: User) -> str:
    """The stage after the auth key: "otp", else with mandatory 2FA "verify" then
    "enrol" (an unverified account cannot enrol), else "done"."""
    if has_second_factor(user):
        return stages.STAGE_OTP
    if settings.SECURECHAT_REQUIRE_2FA:
        return stages.STAGE_ENROL if user.email_verified else stages.STAGE_VERIFY
    return stages.STAGE_DONE


def start_login(request, user: User) -> str:
    """Log ``user`` in on this request: new session key, LoginSession row, and the stage."""
    old_key = request.session.session_key
    if request.user.is_authenticated:
        _end_login_session(request)
    django_login(request, user, backend=MODEL_BACKEND)
    # Django keeps the key when the same user logs in again: every login gets a new one.
    if not request.session.session_key or request.session.session_key == old_key:
        request.session.cycle_key()
    stage = login_stage(user)
    stages.start_client_custody(request, stage)
    LoginSession.objects.create(
        user=user, session_key=request.session.session_key,
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:300], ip_address=client_ip(request),
    )
    return stage


def _complete_login(request, device) -> None:
    """The code step (or first enrolment) succeeded: rotate, verify, stage "done"."""
    old_key = request.session.session_key
    request.session.cycle_key()
    new_key = request.session.session_key
    if old_key:
        LoginSession.objects.filter(session_key=old_key).update(
            session_key=new_key, last_seen_at=timezone.now())
    django_otp.login(request, device)
    stages.set_auth_stage(request, stages.STAGE_DONE)
    audit("login", request.user, ip=client_ip(request))
    send_security_email(request.user, "new_login", request)


def check_login_limits(request, email) -> str | None:
    """Count one login attempt per client address and per account; the client address.

    The account bucket is keyed by the normalised address, so every spelling
    of one address shares it (accounts.addresses).
    """
    ip = client_ip(request)
    rate_limit("login_address", ip)
    if isinstance(email, str) and len(email) <= 254:
        rate_limit("login_account", address_key(email) or email.strip())
    return ip


def note_login_failure(email, ip) -> None:
    audit("login_failed", User.objects.by_address(email).first(), ip=ip)
    LOGIN_FAILURES.inc()


def do_login_code(request, code):
    """The code step of a half-logged-in session (TOTP or backup code); returns the device."""
    if stages.auth_stage(request.session) != stages.STAGE_OTP:
        raise WrongStep("No code is expected now: log in with your password first.")
    rate_limit("otp_account", request.user.pk)
    try:
        device = verify_code(request.user, code)
    except CodeError:
        audit("otp_failed", request.user, ip=client_ip(request))
        raise
    _complete_login(request, device)
    return device


def do_finish_enrolment(request, device) -> None:
    """Mandatory 2FA: the first authenticator was confirmed, so the login completes."""
    if stages.auth_stage(request.session) != stages.STAGE_ENROL:
        raise WrongStep("No enrolment is pending for this login.")
    _complete_login(request, device)


def do_logout(request) -> None:
    """End this login: LoginSession closed, its sockets closed, the session flushed."""
    if request.user.is_authenticated:
        audit("logout", request.user, ip=client_ip(request))
        _end_login_session(request)
    stages.forget_everything(request)
    django_logout(request)  # flushes the session
