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
from accounts.models import (
    AuditEvent,
    Invitation,
    KeyGeneration,
    LoginSession,
    User,
    WrappedIdentity,
)
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
# Scopes without an entry in settings.SECURECHAT_RATE_LIMITS: (attempts, window seconds).
DEFAULT_RATE_LIMITS = {"verify_email_account": (5, 3600)}


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

    limit, window = settings.SECURECHAT_RATE_LIMITS.get(scope) or DEFAULT_RATE_LIMITS[scope]
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


def do_confirm_totp(user: User, device_id, code, *, request=None) -> tuple[object, list[str]]:
    """Confirm the pending authenticator with its first code; returns it and new backup codes.

    ``device_id`` is the device this login session started (``do_start_totp``
    after step-up), so a stale unconfirmed device cannot be confirmed from
    another session. A previously confirmed authenticator is replaced; the
    backup codes are (re)generated and returned to be shown once.
    """
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from accounts.emails import send_security_email
    from accounts.models import BackupCodeDevice
    from accounts.otp import CodeRejected, verify_unconfirmed_totp

    device = (TOTPDevice.objects.filter(user=user, confirmed=False, pk=device_id).first()
              if isinstance(device_id, int) else None)
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


# --- Account lifecycle: sessions, password, reset, keys, email, deletion -------------
# (DESIGN.md §4; the HTTP side is accounts/api/me.py, accounts/api/sessions.py and
# accounts/views/me.py.)

EMAIL_CHANGE_HOURS = 48
EMAIL_CHANGE_SALT = "securechat.accounts.email-change"


class InvalidLink(AccountError):
    code = "invalid_link"


class WrongRecoveryCode(AccountError):
    code = "wrong_recovery_code"
    status = 403


@dataclass
class ResetResult:
    user: User
    keys_kept: bool  # True: recovery code used, history readable; False: new keys
    recovery_code: str  # the new recovery code, shown once


def _ip(request) -> str | None:
    return client_ip(request) if request is not None else None


def access_login_session(user, session_id) -> LoginSession:
    """The user's own active login ``session_id``, or Http404 (another user's id included)."""
    from django.http import Http404

    try:
        return LoginSession.objects.active().get(user=user, pk=int(session_id))
    except (LoginSession.DoesNotExist, TypeError, ValueError):
        raise Http404("No such session.") from None


def end_login_sessions_by_key(user, session_keys) -> None:
    """Delete these Django sessions of the user, end their logins, close their sockets."""
    from importlib import import_module

    from accounts.events import close_session_sockets

    store = import_module(settings.SESSION_ENGINE).SessionStore
    session_keys = list(session_keys)
    for key in session_keys:
        store(session_key=key).delete()
        close_session_sockets(key)
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


def rekey_login_session(old_key: str | None, new_key: str | None) -> None:
    """The login row follows its Django session when the key rotates."""
    if old_key and new_key and old_key != new_key:
        LoginSession.objects.filter(session_key=old_key).update(session_key=new_key)


def do_revoke_session(user, login_session: LoginSession, *, request=None) -> None:
    with transaction.atomic():
        end_login_sessions_by_key(user, [login_session.session_key])
        audit("session_revoked", user, ip=_ip(request))


def do_revoke_other_sessions(user, current_session_key: str | None, *, request=None) -> int:
    with transaction.atomic():
        ended = end_login_sessions(user, keep_session_key=current_session_key)
        if ended:
            audit("session_revoked", user, ip=_ip(request))
    return ended


def do_change_password(user, identity_file: keys.IdentityFile, new_password, *,
                       keep_session_key: str | None, request=None) -> None:
    """Re-wrap the (unlocked) identity under the new password with the new Argon2 hash.

    The keys stay the same, so every stored message and file stays readable;
    the old password stops working, and the user's other sessions end.
    """
    from accounts.emails import send_security_email

    check_password_shape(new_password, user)
    with kdf_slot():
        password_hash = make_password(new_password)
        blob = keys.wrap_under_password(identity_file, new_password,
                                        settings.SECURECHAT_SCRYPT_WORK_FACTOR)
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        locked.password = password_hash
        locked.save(update_fields=["password"])
        WrappedIdentity.objects.filter(user=locked).update(password_blob=blob,
                                                           updated_at=timezone.now())
        end_login_sessions(locked, keep_session_key=keep_session_key)
        audit("password_changed", locked, ip=_ip(request))
        send_security_email(locked, "password_changed", request)
    user.password = password_hash


def do_request_password_reset(email, *, request=None) -> None:
    """Email a reset link to an active account; unknown addresses get the same silence."""
    from django.contrib.auth.tokens import default_token_generator
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    from accounts.emails import send_password_reset_link, site_url

    if not isinstance(email, str) or len(email) > 254 or "@" not in email:
        raise AccountError("Enter a valid email address.", field="email")
    user = User.objects.filter(email__iexact=email.strip(), is_active=True).first()
    if user is None or not user.has_usable_password():
        return
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    send_password_reset_link(user, f"{site_url()}/password-reset/{uid}/{token}/",
                             reset_link_hours())


def reset_link_hours() -> int:
    """How long a reset link works (Django's PASSWORD_RESET_TIMEOUT), in whole hours."""
    return max(1, settings.PASSWORD_RESET_TIMEOUT // 3600)


def user_for_reset_link(uidb64, token) -> User:
    """The user a reset link names, or InvalidLink (wrong, used or expired)."""
    from django.contrib.auth.tokens import default_token_generator
    from django.utils.http import urlsafe_base64_decode

    if not isinstance(uidb64, str) or not isinstance(token, str) or len(token) > 100:
        raise InvalidLink("This reset link is not valid (used, expired or mistyped).")
    try:
        pk = int(urlsafe_base64_decode(uidb64).decode())
        user = User.objects.get(pk=pk, is_active=True)
    except (ValueError, TypeError, OverflowError, UnicodeDecodeError, User.DoesNotExist):
        raise InvalidLink("This reset link is not valid (used, expired or mistyped).") from None
    if not default_token_generator.check_token(user, token):
        raise InvalidLink("This reset link is not valid (used, expired or mistyped).")
    return user


def recovery_key_type(recovery_recipient: str) -> str:
    return "hybrid" if recovery_recipient.startswith("age1pq1") else "x25519"


def fresh_identity_file(number: int, key_type: str) -> keys.IdentityFile:
    """A new identity whose only generation is ``number`` (a reset without the code)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return keys.IdentityFile(((number, keys.new_age_identity(key_type)),),
                             Ed25519PrivateKey.generate(), number)


def do_reset_password(uidb64, token, new_password, *, recovery_code=None, code=None,
                      request=None) -> ResetResult:
    """Set a new password from an emailed link; never skips an existing second factor.

    With the recovery code the identity is opened from its recovery copy and
    re-wrapped (history kept) and the code is rotated. Without it the account
    gets new keys: a new, unendorsed key generation, so older content cannot
    be read and contacts see a key change. Either way every session ends.
    """
    from accounts.emails import send_security_email
    from accounts.events import close_user_sockets
    from accounts.stepup import require_second_factor

    user = user_for_reset_link(uidb64, token)
    check_password_shape(new_password, user)
    wrapped = WrappedIdentity.objects.filter(user=user).first()
    kept: keys.IdentityFile | None = None
    if recovery_code:
        if wrapped is None:
            raise WrongRecoveryCode("This account has no recovery copy of its keys.",
                                    field="recovery_code")
        try:
            kept = keys.unwrap(bytes(wrapped.recovery_blob), keys.recovery_identity(
                recovery_code, recovery_key_type(wrapped.recovery_recipient)))
        except keys.RecoveryCodeError as exc:
            raise AccountError(str(exc), field="recovery_code") from None
        except (agecrypt.AgeError, keys.IdentityFileError):
            raise WrongRecoveryCode("That recovery code does not open this account's keys.",
                                    field="recovery_code") from None
    require_second_factor(user, code)

    key_type = settings.SECURECHAT_KEY_TYPE
    latest = (KeyGeneration.objects.filter(user=user).order_by("-number")
              .values_list("number", flat=True).first()) or 0
    identity_file = kept if kept is not None else fresh_identity_file(latest + 1, key_type)
    new_code = keys.new_recovery_code()
    recovery_recipient = keys.recovery_identity(new_code, key_type).recipient()
    with kdf_slot():
        password_hash = make_password(new_password)
        password_blob = keys.wrap_under_password(identity_file, new_password,
                                                 settings.SECURECHAT_SCRYPT_WORK_FACTOR)
    recovery_blob = keys.wrap_to_recipient(identity_file, recovery_recipient)
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        user_for_reset_link(uidb64, token)  # a parallel reset with the same link lost
        now_latest = (KeyGeneration.objects.filter(user=locked).order_by("-number")
                      .values_list("number", flat=True).first()) or 0
        if now_latest != latest:
            raise InvalidLink("Your keys changed meanwhile; ask for a new reset link.")
        locked.password = password_hash
        if locked.email_verified_at is None:
            locked.email_verified_at = timezone.now()  # the link reached this address
        locked.save(update_fields=["password", "email_verified_at"])
        WrappedIdentity.objects.update_or_create(user=locked, defaults={
            "password_blob": password_blob,
            "recovery_blob": recovery_blob,
            "recovery_recipient": str(recovery_recipient),
            "updated_at": timezone.now(),
        })
        if kept is None:
            KeyGeneration.objects.current().filter(user=locked).update(
                retired_at=timezone.now())
            KeyGeneration.objects.create(
                user=locked, number=identity_file.current_generation, key_type=key_type,
                recipient=str(identity_file.recipient()),
                signing_public_key=identity_file.signing_public_key(), endorsement=None)
        end_login_sessions(locked)
        close_user_sockets(locked.pk)
        ip = _ip(request)
        if kept is None:
            audit("keys_reset", locked, ip=ip)
        else:
            audit("recovery_code_used", locked, ip=ip)
        audit("password_reset", locked, ip=ip)
        send_security_email(locked, "password_reset" if kept is not None else "keys_reset",
                            request)
    return ResetResult(locked, kept is not None, new_code)


def do_rotate_keys(user, identity_file: keys.IdentityFile, password, *,
                   keep_session_key: str | None = None, request=None) -> keys.IdentityFile:
    """A new key generation on top of the old ones, endorsed by the previous signing key.

    History stays readable (the old generations stay in the file); the new
    file is wrapped under the password and to the stored recovery recipient
    (no recovery code needed). Other sessions end (they hold the old file);
    the caller reseals the current one.
    """
    from accounts.emails import send_security_email
    from accounts.events import close_user_sockets

    key_type = settings.SECURECHAT_KEY_TYPE
    new_file = identity_file.with_new_generation(key_type)
    recipient = str(new_file.recipient())
    endorsement = identity_file.signing_key.sign(keys.endorsement_message(
        user.pk, new_file.current_generation, recipient, new_file.signing_public_key()))
    if not isinstance(password, str) or len(password) > settings.SECURECHAT_PASSWORD_MAX_LENGTH:
        raise InvalidCredentials("That is not your current password.", field="password")
    with kdf_slot():
        if not user.check_password(password):
            raise InvalidCredentials("That is not your current password.", field="password")
        password_blob = keys.wrap_under_password(new_file, password,
                                                 settings.SECURECHAT_SCRYPT_WORK_FACTOR)
    with transaction.atomic():
        wrapped = WrappedIdentity.objects.select_for_update().get(user=user)
        current = KeyGeneration.objects.current().select_for_update().get(user=user)
        if current.number != identity_file.current_generation:
            raise AccountError("Your keys changed in another session; log in again.")
        wrapped.password_blob = password_blob
        wrapped.recovery_blob = keys.wrap_to_recipient(
            new_file, keys.parse_recipient(wrapped.recovery_recipient))
        wrapped.updated_at = timezone.now()
        wrapped.save()
        current.retired_at = timezone.now()
        current.save(update_fields=["retired_at"])
        KeyGeneration.objects.create(
            user=user, number=new_file.current_generation, key_type=key_type,
            recipient=recipient, signing_public_key=new_file.signing_public_key(),
            endorsement=endorsement)
        if keep_session_key is None:
            close_user_sockets(user.pk)
        end_login_sessions(user, keep_session_key=keep_session_key)
        send_security_email(user, "keys_rotated", request)
    return new_file


def do_export_identity(user, *, request=None) -> bytes:
    """The password-wrapped identity file (an age file); audited and announced."""
    from accounts.emails import send_security_email

    blob = bytes(WrappedIdentity.objects.get(user=user).password_blob)
    with transaction.atomic():
        audit("identity_exported", user, ip=_ip(request))
        send_security_email(user, "identity_exported", request)
    return blob


def email_change_token(user, new_email: str) -> str:
    from django.core import signing

    return signing.dumps({"u": user.pk, "e": new_email}, salt=EMAIL_CHANGE_SALT, compress=True)


def validate_new_email(user, new_email) -> str:
    """The normalized new address, or an AccountError (same address, taken, malformed)."""
    try:
        new_email = normalize_email(new_email)
    except AccountError as exc:
        raise AccountError(str(exc), field="new_email") from None
    if new_email.lower() == user.email.lower():
        raise AccountError("That is already your email address.", field="new_email")
    if User.objects.filter(email__iexact=new_email).exclude(pk=user.pk).exists():
        raise EmailTaken("Another account uses this email address.", field="new_email")
    return new_email


def do_request_email_change(user, new_email, *, request=None) -> str:
    """Remember the new address and send it a verification link; the old one gets a notice."""
    from accounts.emails import send_email_change_link, send_security_email, site_url

    new_email = validate_new_email(user, new_email)
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(pending_email=new_email)
        user.pending_email = new_email
        token = email_change_token(user, new_email)
        send_email_change_link(new_email, f"{site_url()}/me/email/confirm/{token}/",
                               EMAIL_CHANGE_HOURS)
        send_security_email(user, "email_change_requested", request)
        audit("email_change_requested", user, ip=_ip(request))
    return new_email


def do_confirm_email_change(token, *, request=None) -> User:
    """Switch to the pending address named by a valid link (uniqueness checked again)."""
    from django.core import signing

    from accounts.emails import send_security_email

    invalid = InvalidLink("This confirmation link is not valid (used, expired or replaced).")
    if not isinstance(token, str) or not token or len(token) > 1000:
        raise invalid
    try:
        data = signing.loads(token, salt=EMAIL_CHANGE_SALT,
                             max_age=EMAIL_CHANGE_HOURS * 3600)
        user_id, new_email = int(data["u"]), str(data["e"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise invalid from None
    try:
        with transaction.atomic():
            user = User.objects.select_for_update().filter(pk=user_id, is_active=True).first()
            if user is None or not user.pending_email or user.pending_email != new_email:
                raise invalid
            if User.objects.filter(email__iexact=new_email).exclude(pk=user.pk).exists():
                raise EmailTaken("Another account uses this email address now.",
                                 field="new_email")
            old_email = user.email
            user.email = new_email
            user.pending_email = ""
            user.email_verified_at = timezone.now()  # the link reached the new address
            user.save(update_fields=["email", "pending_email", "email_verified_at"])
            audit("email_changed", user, ip=_ip(request))
            send_security_email(user, "email_changed", request, to=old_email)
            send_security_email(user, "email_changed", request)
    except IntegrityError:
        raise EmailTaken("Another account uses this email address now.",
                         field="new_email") from None
    return user


def do_delete_account(user, *, request=None) -> None:
    """Delete the account with its keys and sessions; an audit row without the user stays."""
    from accounts.emails import send_security_email_now
    from accounts.events import close_user_sockets

    send_security_email_now(user, "account_deleted", request)
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        end_login_sessions(locked)
        close_user_sockets(locked.pk)
        audit("account_deleted", None, ip=_ip(request))
        locked.delete()


# --- Administrator actions --------------------------------------------------------------

def do_deactivate_user(user, *, actor=None) -> None:
    """Deactivate: logins refused, sessions ended, sockets closed."""
    from accounts.emails import send_security_email
    from accounts.events import close_user_sockets

    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(is_active=False)
        user.is_active = False
        end_login_sessions(user)
        close_user_sockets(user.pk)
        audit("deactivated", user, actor=actor)
        send_security_email(user, "deactivated")


def do_reset_devices(user, *, actor=None) -> int:
    """Remove every second-factor device (TOTP and backup codes); the user enrols again."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from accounts.emails import send_security_email
    from accounts.models import BackupCodeDevice

    with transaction.atomic():
        removed = TOTPDevice.objects.filter(user=user).delete()[0]
        removed += BackupCodeDevice.objects.filter(user=user).delete()[0]
        audit("devices_reset", user, actor=actor)
        send_security_email(user, "devices_reset")
    return removed


def do_end_sessions_by_admin(user, *, actor=None) -> int:
    from accounts.events import close_user_sockets

    with transaction.atomic():
        ended = end_login_sessions(user)
        close_user_sockets(user.pk)
        audit("sessions_ended_by_admin", user, actor=actor)
    return ended


# --- Invitations (``manage.py invite``) -------------------------------------------------

INVITATION_DAYS_DEFAULT = 7
INVITATION_DAYS_MAX = 365


def invitation_link(email: str, token: str) -> str:
    """The signup page with the invitation token and the invited address filled in."""
    from urllib.parse import urlencode

    from accounts.emails import site_url

    return f"{site_url()}/signup/?{urlencode({'invitation': token, 'email': email})}"


def do_invite(email, days: int = INVITATION_DAYS_DEFAULT, *, actor=None,
              send: bool = False) -> str:
    """Invite ``email`` for ``days`` days; returns the token (only its SHA-256 is stored).

    The token is good for one signup with that address while registration is
    ``invite`` (or ``open``). With ``send`` the link is emailed inside the
    transaction: a mail that cannot be delivered raises and leaves no
    invitation behind. Nobody ever chooses or sees the invitee's password.
    """
    import secrets
    from datetime import timedelta

    email = normalize_email(email)
    if settings.SECURECHAT_REGISTRATION == "closed":
        raise RegistrationClosed("Registration is closed on this server "
                                 "(SECURECHAT_REGISTRATION=closed): an invitation would not "
                                 "work. Set it to \"invite\" first.")
    if isinstance(days, bool) or not isinstance(days, int) or not (
            1 <= days <= INVITATION_DAYS_MAX):
        raise AccountError(f"An invitation is valid for 1 to {INVITATION_DAYS_MAX} days.",
                           field="days")
    if User.objects.filter(email__iexact=email).exists():
        raise EmailTaken("An account with this email address already exists.", field="email")
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    with transaction.atomic():
        Invitation.objects.create(email=email, token_hash=hash_token(token), created_by=actor,
                                  created_at=now, expires_at=now + timedelta(days=days))
        audit("invited", None, actor=actor)
        if send:
            from accounts.emails import send_invitation

            send_invitation(email, invitation_link(email, token), days)
    return token
