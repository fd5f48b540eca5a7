"""Version 2 account changes: password change, key rotation, work-factor upgrade and the
reset with the recovery code (DESIGN.md §3, §4; docs/api.md "Version 2 account changes").

Every change is made on the client: it derives the new ``auth_key`` and wraps the
identity itself, and sends only what the server stores (the new auth key, which is
HMAC'd with ``AUTH_PEPPER`` at once, an age file with one scrypt stanza of work
factor 10, a recovery copy, public keys and endorsement signatures). The server
checks shapes and signatures, never opens anything, and applies one request in one
transaction. A refused request changes nothing.

Step-up (``check_client_step_up``) is a fresh ``auth_key`` derived from the current
password plus a fresh second-factor code when one is enrolled; a wrong auth key
never burns a code. These live beside the version 1 actions (lifecycle.py) until
the cutover.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts import clientauth
from accounts.actions.base import InvalidLink, audit, rate_limit, request_ip
from accounts.actions.lifecycle import user_for_reset_link
from accounts.actions.sessions import end_login_sessions
from accounts.emails import send_security_email
from accounts.errors import ApiError
from accounts.events import close_user_sockets
from accounts.models import (
    ClientAuth,
    HeldReset,
    KeyGeneration,
    LoginSession,
    User,
    WrappedIdentity,
)
from accounts.stepup import STEP_UP_LIMIT, WrongPassword, require_second_factor
from accounts.throttle import check_rate
from client.endorsement import Endorsed, verify_endorsement
from client.errors import ClientCryptoError

# The work-factor upgrade needs no second code: it must follow a complete login closely.
UPGRADE_WINDOW = timedelta(minutes=10)


class NotClientAccount(ApiError):
    code = "wrong_account_version"
    status = 409


@dataclass(frozen=True, repr=False)
class Rewrap:
    """A new password (or work factor): the new auth key and the identity wrapped under it."""
    auth_key: bytes
    work_factor: int
    wrapped_identity: bytes


@dataclass(frozen=True, repr=False)
class Rotation:
    """A new key generation, endorsed both ways, with the identity file holding it."""
    generation: int
    recipient: str
    signing_key: bytes
    endorsement: bytes
    endorsement_back: bytes
    wrapped_identity: bytes
    recovery_wrapped: bytes


def client_auth_of(user) -> ClientAuth:
    row = ClientAuth.objects.filter(user=user).first()
    if row is None:
        raise NotClientAccount("This account has no client-made keys (an account from "
                               "before version 2); it cannot log in or reset.")
    return row


def target_work_factor(row: ClientAuth) -> int:
    """What new wrappings use: the deployment's setting, never lower than the account's."""
    return max(row.work_factor, settings.SECURECHAT_CLIENT_WORK_FACTOR)


def check_current_auth_key(row: ClientAuth, auth_key) -> None:
    """403 ``wrong_password`` unless ``auth_key`` is the stored one (under the step-up limit)."""
    limit, window = settings.SECURECHAT_RATE_LIMITS.get("stepup_account", STEP_UP_LIMIT)
    check_rate("stepup_account", str(row.user_id), limit, window)
    try:
        raw = clientauth.b64url_field(auth_key, "auth_key", clientauth.AUTH_KEY_BYTES)
    except ApiError:
        raise WrongPassword("That is not your current password.", field="auth_key") from None
    if not hmac.compare_digest(clientauth.auth_hash(raw), bytes(row.auth_hash)):
        raise WrongPassword("That is not your current password.", field="auth_key")


def check_client_step_up(user, auth_key, code) -> ClientAuth:
    """A fresh auth key from the current password, then a fresh code when 2FA is on."""
    row = client_auth_of(user)
    check_current_auth_key(row, auth_key)
    require_second_factor(user, code)  # CodeRequired / CodeRejected / CodeThrottled
    return row


def _wrapped(body: dict, field: str = "wrapped_identity") -> bytes:
    blob = clientauth.b64_field(body.get(field), field)
    clientauth.check_wrapped_identity(blob, field)
    return blob


def check_rewrap(row: ClientAuth, body: dict, auth_field: str = "new_auth_key") -> Rewrap:
    """The new auth key and wrapped identity, at exactly the target work factor, or 400."""
    work_factor = body.get("work_factor")
    target = target_work_factor(row)
    if isinstance(work_factor, bool) or work_factor != target:
        raise ApiError(f"work_factor must be {target} (this server's work factor).",
                       field="work_factor")
    return Rewrap(clientauth.b64url_field(body.get(auth_field), auth_field,
                                          clientauth.AUTH_KEY_BYTES),
                  target, _wrapped(body))


def _verify(signer: bytes, endorsed: Endorsed, signature: bytes, field: str) -> None:
    try:
        verify_endorsement(signer, endorsed.to_bytes(), signature)
    except ClientCryptoError:
        raise ApiError(f"{field} does not verify (protocol.md §11).", field=field) from None


def check_rotation(user, body: dict) -> Rotation:
    """The next generation with both endorsements checked against the directory, or 400."""
    key_type = settings.SECURECHAT_KEY_TYPE
    current = KeyGeneration.objects.current().filter(user=user).first()
    generation = body.get("generation")
    if current is None or isinstance(generation, bool) or generation != current.number + 1:
        raise ApiError("generation must be the current one plus 1.", field="generation")
    recipient = clientauth.check_recipient(body.get("recipient"), key_type)
    signing_key = clientauth.check_signing_key(body.get("signing_key"))
    endorsement = clientauth.b64url_field(body.get("endorsement"), "endorsement", 64)
    back = clientauth.b64url_field(body.get("endorsement_back"), "endorsement_back", 64)
    recovery = clientauth.b64_field(body.get("recovery_wrapped"), "recovery_wrapped")
    clientauth.check_recovery_wrapped(recovery, key_type)
    _verify(bytes(current.signing_public_key),
            Endorsed(user.pk, generation, recipient, signing_key), endorsement, "endorsement")
    _verify(signing_key, Endorsed(user.pk, current.number, current.recipient,
                                  bytes(current.signing_public_key)), back, "endorsement_back")
    return Rotation(generation, recipient, signing_key, endorsement, back, _wrapped(body),
                    recovery)


def _store_generation(user, rotation: Rotation) -> None:
    """Inside a transaction: retire the current generation and add the rotation's."""
    current = KeyGeneration.objects.current().select_for_update().filter(user=user).first()
    if current is None or current.number != rotation.generation - 1:
        raise ApiError("Your keys changed meanwhile; unlock again and retry.",
                       code="keys_changed", status=409)
    current.retired_at = timezone.now()
    current.save(update_fields=["retired_at"])
    KeyGeneration.objects.create(
        user=user, number=rotation.generation, key_type=settings.SECURECHAT_KEY_TYPE,
        recipient=rotation.recipient, signing_public_key=rotation.signing_key,
        endorsement=rotation.endorsement, endorsement_back=rotation.endorsement_back)
    WrappedIdentity.objects.filter(user=user).update(recovery_blob=rotation.recovery_wrapped)


def _store_rewrap(user, rewrap: Rewrap) -> None:
    ClientAuth.objects.filter(user=user).update(
        auth_hash=clientauth.auth_hash(rewrap.auth_key), work_factor=rewrap.work_factor,
        updated_at=timezone.now())
    WrappedIdentity.objects.filter(user=user).update(password_blob=rewrap.wrapped_identity,
                                                     updated_at=timezone.now())


def do_client_change_password(user, rewrap: Rewrap, rotation: Rotation | None = None, *,
                              step_up: dict, keep_session_key: str | None,
                              request=None) -> None:
    """After the step-up, new auth key and wrapping (and optionally a new generation) in
    one transaction. Every other session ends (its sockets close after commit); the
    owner gets a security email per change.
    """
    check_client_step_up(user, step_up.get("auth_key"), step_up.get("code"))
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()
        if rotation is not None:
            _store_generation(user, rotation)
        _store_rewrap(user, rewrap)
        end_login_sessions(user, keep_session_key=keep_session_key)
        ip = request_ip(request)
        audit("password_changed", user, ip=ip)
        send_security_email(user, "password_changed", request)
        if rotation is not None:
            audit("keys_rotated", user, ip=ip)
            send_security_email(user, "keys_rotated", request)


def do_client_rotate_keys(user, rotation: Rotation, *, step_up: dict,
                          keep_session_key: str | None, request=None) -> None:
    """After the step-up, publish the next generation (endorsed both ways) and its
    wrapped identity.

    The password is unchanged, so the stored auth hash stays; the new wrapped
    identity is under the same wrap key. Other sessions end: they hold the old file.
    """
    check_client_step_up(user, step_up.get("auth_key"), step_up.get("code"))
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()
        _store_generation(user, rotation)
        WrappedIdentity.objects.filter(user=user).update(
            password_blob=rotation.wrapped_identity, updated_at=timezone.now())
        end_login_sessions(user, keep_session_key=keep_session_key)
        audit("keys_rotated", user, ip=request_ip(request))
        send_security_email(user, "keys_rotated", request)


def check_work_factor_upgrade(user, session_key: str | None, body: dict) -> Rewrap:
    """An upgrade is due, this login is recent, and the auth key is the current one.

    No second-factor code: the login that just completed asked for it, and the
    password (the auth key) is proven again here; a session older than
    ``UPGRADE_WINDOW`` must change its password with full step-up instead.
    """
    row = client_auth_of(user)
    if row.work_factor >= settings.SECURECHAT_CLIENT_WORK_FACTOR:
        raise ApiError("This account already uses the server's work factor.",
                       code="no_upgrade_due", status=409)
    login = LoginSession.objects.active().filter(user=user, session_key=session_key).first()
    if login is None or timezone.now() - login.created_at > UPGRADE_WINDOW:
        raise ApiError("Upgrade right after logging in, or change your password.",
                       code="login_too_old", status=403)
    check_current_auth_key(row, body.get("auth_key"))
    return check_rewrap(row, body)


def do_client_upgrade_work_factor(user, rewrap: Rewrap, *, request=None) -> None:
    """Store the re-derived auth key and re-wrapped identity; sessions stay (same password)."""
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()
        _store_rewrap(user, rewrap)
        audit("work_factor_raised", user, ip=request_ip(request))


def do_client_note_export(user, *, step_up: dict, request=None) -> None:
    """The owner exports their identity (re-wrapped on the client under the password;
    the server never sees the file): after the step-up, audit it and send the security
    email, so a stolen session cannot take the keys away unnoticed."""
    check_client_step_up(user, step_up.get("auth_key"), step_up.get("code"))
    with transaction.atomic():
        audit("identity_exported", user, ip=request_ip(request))
        send_security_email(user, "identity_exported", request)


# --- reset with the recovery code -----------------------------------------------------


def link_hash(token: str) -> bytes:
    """How a held reset remembers the link it spent (the link itself is never stored)."""
    return hashlib.sha256(f"securechat/v2/reset-link {token}".encode()).digest()


def check_link_unspent(uidb64, token) -> User:
    """The user of a valid reset link that no held reset used yet, or 400 invalid_link."""
    user = user_for_reset_link(uidb64, token)
    if isinstance(token, str) and HeldReset.objects.filter(link_hash=link_hash(token)).exists():
        raise InvalidLink("This reset link is not valid (used, expired or mistyped).")
    return user


def reset_recovery_material(uidb64, token, *, ip: str | None) -> dict:
    """What a reset link's holder needs to recover on the client (reads only; rate-limited
    per client address like every use of a reset link).

    The recovery copy is encrypted to the recovery code (128 bits), which the
    server never had; the generations let the client check what it opens.
    """
    rate_limit("reset_address", ip)
    user = check_link_unspent(uidb64, token)
    row = client_auth_of(user)
    wrapped = WrappedIdentity.objects.get(user=user)
    generations = list(KeyGeneration.objects.filter(user=user).order_by("-number"))
    return {"user": user, "row": row, "recovery_wrapped": bytes(wrapped.recovery_blob),
            "generations": generations, "target_work_factor": target_work_factor(row)}


@dataclass(frozen=True, repr=False)
class RecoveryReset:
    user: User
    rewrap: Rewrap
    recovery_wrapped: bytes


def check_recovery_reset(uidb64, token, body: dict, *, ip: str | None) -> RecoveryReset:
    """The rate limit per client address, the link, then every field (new auth key,
    wrapping, new recovery copy), then the code."""
    rate_limit("reset_address", ip)
    user = check_link_unspent(uidb64, token)
    row = client_auth_of(user)
    rewrap = check_rewrap(row, body, auth_field="auth_key")
    recovery = clientauth.b64_field(body.get("recovery_wrapped"), "recovery_wrapped")
    clientauth.check_recovery_wrapped(recovery, settings.SECURECHAT_KEY_TYPE)
    require_second_factor(user, body.get("code"))  # a reset never skips the second factor
    return RecoveryReset(user, rewrap, recovery)


def do_client_recovery_reset(uidb64, token, reset: RecoveryReset, *, request=None) -> None:
    """New password and recovery code, same keys (history kept); every session ends."""
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=reset.user.pk)
        check_link_unspent(uidb64, token)  # a parallel use of the same link lost
        _store_rewrap(locked, reset.rewrap)
        WrappedIdentity.objects.filter(user=locked).update(recovery_blob=reset.recovery_wrapped)
        locked.set_unusable_password()  # a new random marker: the link stops working
        if locked.email_verified_at is None:
            locked.email_verified_at = timezone.now()  # the link reached this address
        locked.save(update_fields=["password", "email_verified_at"])
        # The owner found the code: a reset held without it is moot.
        HeldReset.objects.filter(user=locked, state=HeldReset.HELD).update(
            state=HeldReset.CANCELLED, finished_at=timezone.now(), finished_by="recovery")
        end_login_sessions(locked)
        close_user_sockets(locked.pk)
        ip = request_ip(request)
        audit("recovery_code_used", locked, ip=ip)
        audit("password_reset", locked, ip=ip)
        send_security_email(locked, "password_reset", request)
