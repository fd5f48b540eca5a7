"""Password change and reset, key rotation, export, account deletion (the email change:
emailchange.py)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone

import agecrypt
from accounts import identity as keys
from accounts.actions.base import (
    AccountError,
    InvalidCredentials,
    InvalidLink,
    WrongRecoveryCode,
    audit,
    check_password_shape,
    request_ip,
)
from accounts.actions.sessions import end_login_sessions
from accounts.models import (
    KeyGeneration,
    User,
    WrappedIdentity,
)
from accounts.throttle import kdf_slot

logger = logging.getLogger(__name__)


@dataclass
class ResetResult:
    user: User
    keys_kept: bool  # True: recovery code used, history readable; False: new keys
    recovery_code: str  # the new recovery code, shown once


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
        audit("password_changed", locked, ip=request_ip(request))
        send_security_email(locked, "password_changed", request)
    user.password = password_hash


def do_request_password_reset(email, *, request=None) -> None:
    """Email a reset link to an active account, after the response; the same for any address.

    Only the address's shape is checked on the request path: the lookup, the
    token and the mail run in a thread after commit (``emails.after_response``),
    so the answer and its timing are the same whether or not an account exists.
    """
    from accounts.emails import after_response

    if not isinstance(email, str) or len(email) > 254 or "@" not in email:
        raise AccountError("Enter a valid email address.", field="email")
    after_response(lambda: _send_reset_link(email), "password reset link")


def _send_reset_link(email: str) -> None:
    from django.contrib.auth.tokens import default_token_generator
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    from accounts.emails import _deliver, password_reset_mail, site_url

    user = User.objects.by_address(email).filter(is_active=True).first()
    if user is None or not (user.has_usable_password() or hasattr(user, "client_auth")):
        return  # version 2 accounts (no server password) reset on the client
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    subject, body = password_reset_mail(f"{site_url()}/password-reset/{uid}/{token}/",
                                        reset_link_hours())
    _deliver(subject, body, user.email, "password reset link")


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
    if hasattr(user, "client_auth"):  # its keys are the client's: api/v1/auth/v2/reset/*
        raise AccountError("This account resets on its client (securechat reset).")
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
        ip = request_ip(request)
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
        audit("identity_exported", user, ip=request_ip(request))
        send_security_email(user, "identity_exported", request)
    return blob


def do_delete_account(user, *, request=None) -> None:
    """Delete the account with its keys and sessions; an audit row without the user stays."""
    from accounts.emails import send_security_email_now
    from accounts.events import close_user_sockets

    send_security_email_now(user, "account_deleted", request)
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        end_login_sessions(locked)
        close_user_sockets(locked.pk)
        audit("account_deleted", None, ip=request_ip(request))
        locked.delete()
