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
