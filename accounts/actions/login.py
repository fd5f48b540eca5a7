"""The login steps: password (Argon2, then the scrypt unwrap), code, logout."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.utils import timezone

import agecrypt
from accounts import identity as keys
from accounts.actions.base import InvalidCredentials, WrongStep, audit, client_ip, rate_limit
from accounts.actions.signup import SignupResult, do_signup
from accounts.actions.verification import do_send_email_verification
from accounts.addresses import address_key
from accounts.metrics import LOGIN_FAILURES
from accounts.models import (
    LoginSession,
    User,
    WrappedIdentity,
)
from accounts.throttle import kdf_slot

logger = logging.getLogger(__name__)


def check_credentials(email, password) -> tuple[User, keys.IdentityFile]:
    """The password step: Argon2 first; scrypt (the unwrap) only when it matched.

    A wrong password never reaches scrypt, so guessing costs the server one
    Argon2 run and nothing more. Unknown addresses cost the same Argon2 run.
    """
    if not isinstance(email, str) or not isinstance(password, str) or not password:
        raise InvalidCredentials("Wrong email address or password.")
    if len(password) > settings.SECURECHAT_PASSWORD_MAX_LENGTH or len(email) > 254:
        raise InvalidCredentials("Wrong email address or password.")
    user = User.objects.by_address(email).first()
    with kdf_slot():
        if user is None:
            make_password(password)  # same cost as a real check
            raise InvalidCredentials("Wrong email address or password.")
        if not user.check_password(password) or not user.is_active:
            raise InvalidCredentials("Wrong email address or password.")
        try:
            wrapped = user.wrapped_identity
        except WrappedIdentity.DoesNotExist:
            raise InvalidCredentials("This account has no keys; reset the password.") from None
        try:
            identity_file = keys.unwrap(bytes(wrapped.password_blob),
                                        agecrypt.ScryptIdentity(password))
        except (agecrypt.AgeError, keys.IdentityFileError):
            logger.error("password matched but the wrapped identity of user %s did not open",
                         user.pk)
            raise InvalidCredentials("Your keys could not be unlocked; reset the password "
                                     "with your recovery code.") from None
    return user, identity_file


MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def _end_login_session(request, *, close_sockets: bool = True) -> None:
    from accounts.events import close_session_sockets

    key = request.session.session_key
    if key and LoginSession.objects.filter(session_key=key, ended_at__isnull=True).update(
            ended_at=timezone.now()) and close_sockets:
        close_session_sockets(key)


def login_stage(user: User) -> str:
    """The stage after the password: "otp", else with mandatory 2FA "verify" then
    "enrol" (an unverified account cannot enrol), else "done"."""
    from accounts import unlock
    from accounts.otp import has_second_factor

    if has_second_factor(user):
        return unlock.STAGE_OTP
    if settings.SECURECHAT_REQUIRE_2FA:
        return unlock.STAGE_ENROL if user.email_verified else unlock.STAGE_VERIFY
    return unlock.STAGE_DONE


def start_login(request, user: User, identity_file: keys.IdentityFile | None) -> str:
    """Log ``user`` in on this request: new session key, LoginSession row, and the stage.

    Version 1 seals ``identity_file`` in the session; version 2 passes None: the
    keys stay on the client and the session is marked client-custody.
    """
    from django.contrib.auth import login as django_login

    from accounts import unlock

    old_key = request.session.session_key
    if request.user.is_authenticated:
        _end_login_session(request)
    django_login(request, user, backend=MODEL_BACKEND)
    # Django keeps the key when the same user logs in again: every login gets a new one.
    if not request.session.session_key or request.session.session_key == old_key:
        request.session.cycle_key()
    stage = login_stage(user)
    if identity_file is not None:
        unlock.seal_identity(request, user, identity_file, stage)
    else:
        unlock.start_client_custody(request, stage)
    LoginSession.objects.create(
        user=user, session_key=request.session.session_key,
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:300], ip_address=client_ip(request),
    )
    return stage


def _complete_login(request, device) -> None:
    """The code step (or first enrolment) succeeded: rotate, verify, stage "done"."""
    import django_otp

    from accounts import unlock
    from accounts.emails import send_security_email

    old_key = request.session.session_key
    request.session.cycle_key()
    new_key = request.session.session_key
    if old_key:
        LoginSession.objects.filter(session_key=old_key).update(
            session_key=new_key, last_seen_at=timezone.now())
    django_otp.login(request, device)
    unlock.set_auth_stage(request, unlock.STAGE_DONE)
    audit("login", request.user, ip=client_ip(request))
    send_security_email(request.user, "new_login", request)


def do_register(request, email, password, *, invitation_token: str | None = None
                ) -> tuple[SignupResult, str]:
    """Signup over the web: the account, then a login with the recovery code stashed.

    Returns the signup result and the login stage ("done"; with mandatory 2FA
    "verify", or "enrol" when an invitation proved the address; None for a
    claim on an unverified registration, which logs nobody in). A verification
    link goes to the address unless an invitation already proved it.
    """
    from accounts import unlock

    rate_limit("signup_address", client_ip(request))
    result = do_signup(email, password, invitation_token=invitation_token, ip=client_ip(request))
    if result.claim_pending:
        return result, None  # nobody to log in until the claim's link is confirmed
    stage = start_login(request, result.user, result.identity_file)
    unlock.stash_recovery_code(request, result.user, result.recovery_code)
    if not result.user.email_verified:
        do_send_email_verification(result.user)
    return result, stage


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


def do_login(request, email, password) -> str:
    """The password step under rate limits; returns the next stage ("otp", "enrol", "done")."""
    from accounts.emails import send_security_email

    ip = check_login_limits(request, email)
    try:
        user, identity_file = check_credentials(email, password)
    except InvalidCredentials:
        note_login_failure(email, ip)
        raise
    stage = start_login(request, user, identity_file)
    if stage == "done":
        audit("login", user, ip=ip)
        send_security_email(user, "new_login", request)
    return stage


def do_login_code(request, code):
    """The code step of a half-logged-in session (TOTP or backup code); returns the device."""
    from accounts import unlock
    from accounts.otp import CodeError, verify_code

    if unlock.auth_stage(request.session) != unlock.STAGE_OTP:
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
    from accounts import unlock

    if unlock.auth_stage(request.session) != unlock.STAGE_ENROL:
        raise WrongStep("No enrolment is pending for this login.")
    _complete_login(request, device)


def do_logout(request) -> None:
    """End this login: LoginSession closed, its sockets closed, session and key cookie gone."""
    from django.contrib.auth import logout as django_logout

    from accounts import unlock

    if request.user.is_authenticated:
        audit("logout", request.user, ip=client_ip(request))
        _end_login_session(request)
    unlock.forget_everything(request)
    django_logout(request)  # flushes the session


def do_confirm_recovery_code(request) -> bool:
    """The user saved the recovery code: forget the stashed copy. False if none was pending."""
    from accounts import unlock

    if unlock.pending_recovery_code(request) is None:
        return False
    unlock.forget_recovery_code(request)
    audit("recovery_code_confirmed", request.user, ip=client_ip(request))
    return True
