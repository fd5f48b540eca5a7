"""Every state change of accounts, one function each (views, API, commands call these).

Functions raise ``AccountError`` subclasses with a message meant for the user;
callers map them to a 4xx response or a form error. Nothing is changed when
one is raised.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

import agecrypt
from accounts import identity as keys
from accounts.models import AuditEvent, Invitation, KeyGeneration, User, WrappedIdentity
from accounts.models.invitations import hash_token
from accounts.throttle import kdf_slot

logger = logging.getLogger(__name__)


class AccountError(Exception):
    """A request that cannot be honoured; ``code`` and ``str()`` go to the client."""

    code = "invalid"
    status = 400

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field


class InvalidCredentials(AccountError):
    code = "invalid_credentials"
    status = 401


class RegistrationClosed(AccountError):
    code = "registration_closed"
    status = 403


class EmailTaken(AccountError):
    code = "email_taken"
    status = 409


@dataclass
class SignupResult:
    user: User
    identity_file: keys.IdentityFile
    recovery_code: str


def audit(kind: str, user=None, *, actor=None, ip: str | None = None) -> AuditEvent:
    return AuditEvent.objects.create(kind=kind, user=user, actor=actor, ip_address=ip)


def normalize_email(email) -> str:
    if not isinstance(email, str) or not email.strip():
        raise AccountError("Enter an email address.", field="email")
    email = User.objects.normalize_email(email.strip())
    try:
        validate_email(email)
    except ValidationError:
        raise AccountError("Enter a valid email address.", field="email") from None
    return email


def check_password_shape(password, user=None) -> str:
    """Type and length first (before any derivation), then Django's validators."""
    if not isinstance(password, str) or not password:
        raise AccountError("Enter a password.", field="password")
    if len(password) > settings.SECURECHAT_PASSWORD_MAX_LENGTH:
        raise AccountError(
            f"Passwords are at most {settings.SECURECHAT_PASSWORD_MAX_LENGTH} characters.",
            field="password",
        )
    try:
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        raise AccountError(" ".join(exc.messages), field="password") from None
    return password


def usable_invitation(email: str, token: str | None) -> Invitation | None:
    if not token or not isinstance(token, str) or len(token) > 200:
        return None
    return (
        Invitation.objects.usable()
        .filter(token_hash=hash_token(token), email__iexact=email)
        .first()
    )


def make_keys_for(user: User, password: str) -> tuple[keys.IdentityFile, str, WrappedIdentity]:
    """New identity (generation 1), wrapped under the password and a new recovery code."""
    identity_file = keys.IdentityFile.create(settings.SECURECHAT_KEY_TYPE)
    code = keys.new_recovery_code()
    recovery_recipient = keys.recovery_identity(code, settings.SECURECHAT_KEY_TYPE).recipient()
    wrapped = WrappedIdentity(
        user=user,
        password_blob=keys.wrap_under_password(identity_file, password,
                                               settings.SECURECHAT_SCRYPT_WORK_FACTOR),
        recovery_blob=keys.wrap_to_recipient(identity_file, recovery_recipient),
        recovery_recipient=str(recovery_recipient),
    )
    return identity_file, code, wrapped


def do_signup(email, password, *, invitation_token: str | None = None,
              ip: str | None = None) -> SignupResult:
    """Create a user with fresh keys; the recovery code is returned to show once."""
    email = normalize_email(email)
    check_password_shape(password, User(email=email))
    invitation = None
    mode = settings.SECURECHAT_REGISTRATION
    if mode == "closed":
        raise RegistrationClosed("Registration is closed on this server.")
    if mode == "invite":
        invitation = usable_invitation(email, invitation_token)
        if invitation is None:
            raise RegistrationClosed("Registration needs a valid invitation for this address.")
    if User.objects.filter(email__iexact=email).exists():
        raise EmailTaken("An account with this email address already exists.", field="email")

    with kdf_slot():
        password_hash = make_password(password)
        identity_file, code, wrapped = make_keys_for(User(), password)

    try:
        with transaction.atomic():
            user = User.objects.create(email=email, password=password_hash)
            wrapped.user = user
            wrapped.save(force_insert=True)
            KeyGeneration.objects.create(
                user=user, number=identity_file.current_generation,
                key_type=settings.SECURECHAT_KEY_TYPE,
                recipient=str(identity_file.recipient()),
                signing_public_key=identity_file.signing_public_key(),
            )
            if invitation is not None:
                used = Invitation.objects.filter(pk=invitation.pk, used_at__isnull=True).update(
                    used_at=timezone.now())
                if not used:
                    raise RegistrationClosed("This invitation has already been used.")
                user.email_verified_at = timezone.now()  # the link went to this address
                user.save(update_fields=["email_verified_at"])
            audit("signup", user, ip=ip)
    except IntegrityError:
        raise EmailTaken("An account with this email address already exists.",
                         field="email") from None
    return SignupResult(user, identity_file, code)


def check_credentials(email, password) -> tuple[User, keys.IdentityFile]:
    """The password step: Argon2 first; scrypt (the unwrap) only when it matched.

    A wrong password never reaches scrypt, so guessing costs the server one
    Argon2 run and nothing more. Unknown addresses cost the same Argon2 run.
    """
    if not isinstance(email, str) or not isinstance(password, str) or not password:
        raise InvalidCredentials("Wrong email address or password.")
    if len(password) > settings.SECURECHAT_PASSWORD_MAX_LENGTH or len(email) > 254:
        raise InvalidCredentials("Wrong email address or password.")
    user = User.objects.filter(email__iexact=email.strip()).first()
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


# --- Login flow: signup, password step, code step, logout, email verification -----------
# (called by accounts/api/auth.py, accounts/views/auth.py and accounts/admin_site.py)

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
EMAIL_TOKEN_SALT = "securechat.accounts.verify-email"  # noqa: S105 - a signing salt
EMAIL_TOKEN_MAX_AGE = 3 * 24 * 3600


class WrongStep(AccountError):
    code = "wrong_step"
    status = 409


class InvalidToken(AccountError):
    code = "invalid_token"
    status = 400


def client_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def rate_limit(scope: str, key) -> None:
    """``accounts.throttle.check_rate`` with the limits of ``SECURECHAT_RATE_LIMITS``."""
    from accounts.throttle import check_rate

    limit, window = settings.SECURECHAT_RATE_LIMITS[scope]
    check_rate(scope, str(key) if key is not None else "", limit, window)


def _end_login_session(request, *, close_sockets: bool = True) -> None:
    from accounts.events import close_session_sockets
    from accounts.models import LoginSession

    key = request.session.session_key
    if key and LoginSession.objects.filter(session_key=key, ended_at__isnull=True).update(
            ended_at=timezone.now()) and close_sockets:
        close_session_sockets(key)


def _start_login(request, user: User, identity_file: keys.IdentityFile) -> str:
    """Log ``user`` in on this request: new session key, identity sealed, LoginSession row."""
    from django.contrib.auth import login as django_login

    from accounts import unlock
    from accounts.models import LoginSession
    from accounts.otp import has_second_factor

    if request.user.is_authenticated:
        _end_login_session(request)
    django_login(request, user, backend=MODEL_BACKEND)  # rotates the session key
    if not request.session.session_key:  # flushed (another user was logged in)
        request.session.cycle_key()
    if has_second_factor(user):
        stage = unlock.STAGE_OTP
    elif settings.SECURECHAT_REQUIRE_2FA:
        stage = unlock.STAGE_ENROL
    else:
        stage = unlock.STAGE_DONE
    unlock.seal_identity(request, user, identity_file, stage)
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
    from accounts.models import LoginSession

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

    Returns the signup result and the login stage ("done", or "enrol" when 2FA
    is mandatory). A verification link goes to the address unless an
    invitation already proved it.
    """
    from accounts import unlock

    rate_limit("signup_address", client_ip(request))
    result = do_signup(email, password, invitation_token=invitation_token, ip=client_ip(request))
    stage = _start_login(request, result.user, result.identity_file)
    unlock.stash_recovery_code(request, result.user, result.recovery_code)
    if not result.user.email_verified:
        do_send_email_verification(result.user)
    return result, stage


def do_login(request, email, password) -> str:
    """The password step under rate limits; returns the next stage ("otp", "enrol", "done")."""
    from accounts.emails import send_security_email

    ip = client_ip(request)
    rate_limit("login_address", ip)
    if isinstance(email, str) and len(email) <= 254:
        rate_limit("login_account", email.strip().lower())
    try:
        user, identity_file = check_credentials(email, password)
    except InvalidCredentials:
        known = (User.objects.filter(email__iexact=email.strip()).first()
                 if isinstance(email, str) and len(email) <= 254 else None)
        audit("login_failed", known, ip=ip)
        raise
    stage = _start_login(request, user, identity_file)
    if stage != "otp":
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


def email_verification_token(user: User) -> str:
    from django.core.signing import TimestampSigner

    return TimestampSigner(salt=EMAIL_TOKEN_SALT).sign_object(
        {"u": user.pk, "e": user.email.lower()})


def do_send_email_verification(user: User) -> None:
    """Email a verification link (valid 3 days), after commit; the link is never logged."""
    from django.template.loader import render_to_string
    from django.urls import reverse

    from accounts.emails import _deliver, site_url

    link = site_url() + reverse("verify-email", args=[email_verification_token(user)])
    body = render_to_string("accounts/auth/email_verify.txt",
                            {"link": link, "valid_days": EMAIL_TOKEN_MAX_AGE // 86400})
    address = user.email
    transaction.on_commit(lambda: _deliver("Confirm your SecureChat email address", body,
                                           address, "email verification link"))


def do_verify_email(token) -> User:
    """Mark the address verified; the token must be recent and name the current address."""
    from django.core.signing import BadSignature, TimestampSigner

    if not isinstance(token, str) or not token or len(token) > 300:
        raise InvalidToken("This verification link is not valid.")
    try:
        data = TimestampSigner(salt=EMAIL_TOKEN_SALT).unsign_object(
            token, max_age=EMAIL_TOKEN_MAX_AGE)
    except BadSignature:  # includes SignatureExpired
        raise InvalidToken("This verification link is not valid or has expired; "
                           "ask for a new one.") from None
    if not isinstance(data, dict):
        raise InvalidToken("This verification link is not valid.")
    user = User.objects.filter(pk=data.get("u"), is_active=True).first()
    if user is None or user.email.lower() != data.get("e"):
        raise InvalidToken("This verification link is no longer valid.")
    if user.email_verified_at is None:
        User.objects.filter(pk=user.pk, email_verified_at__isnull=True).update(
            email_verified_at=timezone.now())
        user.refresh_from_db(fields=["email_verified_at"])
        audit("email_verified", user)
    return user


# --- Second factor: TOTP enrolment and backup codes ---------------------------------------

def do_start_totp(user: User):
    """A new, unconfirmed authenticator device (replacing an unconfirmed one)."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    with transaction.atomic():
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)


def do_confirm_totp(user: User, code, *, request=None) -> tuple[object, list[str]]:
    """Confirm the pending authenticator with its first code; returns it and new backup codes.

    A previously confirmed authenticator is replaced; the backup codes are
    (re)generated and returned to be shown once.
    """
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from accounts.emails import send_security_email
    from accounts.models import BackupCodeDevice
    from accounts.otp import CodeRejected, verify_unconfirmed_totp

    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()
    if device is None:
        raise WrongStep("Start the authenticator setup first.")
    if not verify_unconfirmed_totp(device, code):
        raise CodeRejected("That code does not match. Check the time on your phone and "
                           "try the current code.")
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user, confirmed=True).delete()
        TOTPDevice.objects.filter(pk=device.pk).update(confirmed=True)
        device.refresh_from_db()
        backup, _ = BackupCodeDevice.objects.get_or_create(
            user=user, defaults={"name": "Backup codes", "confirmed": True})
        codes = backup.generate_codes()
        ip = client_ip(request) if request is not None else None
        audit("totp_enabled", user, ip=ip)
        audit("backup_codes_generated", user, ip=ip)
        send_security_email(user, "totp_enabled", request)
    return device, codes


def do_regenerate_backup_codes(user: User, *, request=None) -> list[str]:
    from accounts.emails import send_security_email
    from accounts.models import BackupCodeDevice
    from accounts.otp import confirmed_totp

    if confirmed_totp(user) is None:
        raise WrongStep("Set up an authenticator app first; backup codes come with it.")
    with transaction.atomic():
        backup, _ = BackupCodeDevice.objects.get_or_create(
            user=user, defaults={"name": "Backup codes", "confirmed": True})
        codes = backup.generate_codes()
        audit("backup_codes_generated", user,
              ip=client_ip(request) if request is not None else None)
        send_security_email(user, "backup_codes_generated", request)
    return codes


def do_remove_totp(user: User, *, request=None) -> None:
    """Remove the second factor (authenticator and backup codes), unless it is mandatory."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from accounts.emails import send_security_email
    from accounts.models import BackupCodeDevice

    if settings.SECURECHAT_REQUIRE_2FA:
        raise AccountError("A second factor is mandatory on this server; it cannot be removed.")
    with transaction.atomic():
        removed = TOTPDevice.objects.filter(user=user).delete()[0]
        removed += BackupCodeDevice.objects.filter(user=user).delete()[0]
        if removed:
            audit("totp_disabled", user, ip=client_ip(request) if request is not None else None)
            send_security_email(user, "totp_disabled", request)
