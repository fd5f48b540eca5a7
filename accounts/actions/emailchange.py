"""Email change, version 2 (DESIGN.md §3, docs/protocol.md §27).

The account salt is ``HMAC(PRELOGIN_KEY, normalised address)`` and the client's
scrypt salt binds the address, so an account's auth key and wrapping depend on its
address. The change is made during the step-up: the client proves the current
password (``auth_key``), asks prelogin for the new address's salt, derives the new
``auth_key`` and ``wrap_key`` with the same password and re-wraps the identity. The
server checks shapes and the salt, keeps the result in ``PendingEmailKeys`` and mails
a link to the new address; opening it switches the address and the keys in one
transaction. Until then the old address, salt and keys stay in force.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from django.core import signing
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import clientauth
from accounts.actions.base import (
    AccountError,
    EmailTaken,
    InvalidLink,
    audit,
    normalize_email,
    request_ip,
)
from accounts.actions.clientchanges import Rewrap, check_rewrap, client_auth_of
from accounts.emails import send_email_change_link, send_security_email, site_url
from accounts.errors import ApiError
from accounts.models import ClientAuth, PendingEmailKeys, User, WrappedIdentity
from accounts.stepup import check_step_up

EMAIL_CHANGE_HOURS = 48
EMAIL_CHANGE_SALT = "securechat.accounts.email-change"


def email_change_token(user, new_email: str) -> str:
    return signing.dumps({"u": user.pk, "e": new_email}, salt=EMAIL_CHANGE_SALT, compress=True)


def validate_new_email(user, new_email) -> str:
    """The normalized new address, or an AccountError (same address, taken, malformed)."""
    try:
        new_email = normalize_email(new_email)
    except AccountError as exc:
        raise AccountError(str(exc), field="new_email") from None
    if new_email == user.email:
        raise AccountError("That is already your email address.", field="new_email")
    if User.objects.filter(email=new_email).exclude(pk=user.pk).exists():
        raise EmailTaken("Another account uses this email address.", field="new_email")
    return new_email


@dataclass(frozen=True, repr=False)
class EmailChange:
    """A checked email change request: the address and the keys re-derived for it."""
    email: str
    account_salt: bytes
    rewrap: Rewrap


def _fingerprint(auth_hash: bytes, password_blob: bytes) -> bytes:
    """What pending keys were made against (the current auth hash and wrapping)."""
    return hashlib.sha256(b"securechat/v2/email-change " + hashlib.sha256(auth_hash).digest()
                          + hashlib.sha256(password_blob).digest()).digest()


def _current_fingerprint(user) -> bytes:
    auth = ClientAuth.objects.get(user=user)
    wrapped = WrappedIdentity.objects.get(user=user)
    return _fingerprint(bytes(auth.auth_hash), bytes(wrapped.password_blob))


def check_email_change(user, body: dict) -> EmailChange:
    """Every field of ``{new_email, new_account_salt, new_auth_key, work_factor,
    wrapped_identity}``, or a 400 naming the first bad one; changes nothing.

    ``new_account_salt`` must be what prelogin answers for the new address (its HMAC:
    nobody holds it yet) and ``work_factor`` the account's target (as for a password
    change: ``check_rewrap``).
    """
    row = client_auth_of(user)
    email = validate_new_email(user, body.get("new_email"))
    salt = clientauth.b64url_field(body.get("new_account_salt"), "new_account_salt", 16)
    if not hmac.compare_digest(salt, clientauth.prelogin_salt(email)):
        raise ApiError("new_account_salt must be the one prelogin answers for the new address.",
                       field="new_account_salt")
    return EmailChange(email, salt, check_rewrap(row, body))


def do_request_email_change(user, change: EmailChange, *, step_up: dict, request=None) -> str:
    """After the step-up, keep the new address and its keys pending and mail the link;
    the old address is told. A second request replaces the first one's pending keys.
    """
    check_step_up(user, step_up)
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).update(pending_email=change.email)
        user.pending_email = change.email
        PendingEmailKeys.objects.update_or_create(user=user, defaults={
            "email": change.email, "account_salt": change.account_salt,
            "work_factor": change.rewrap.work_factor,
            "auth_hash": clientauth.auth_hash(change.rewrap.auth_key),
            "password_blob": change.rewrap.wrapped_identity,
            "based_on": _current_fingerprint(user), "created_at": timezone.now()})
        token = email_change_token(user, change.email)
        send_email_change_link(change.email, f"{site_url()}/me/email/confirm/{token}/",
                               EMAIL_CHANGE_HOURS)
        send_security_email(user, "email_change_requested", request)
        audit("email_change_requested", user, ip=request_ip(request))
    return change.email


def _token_data(token) -> tuple[int, str]:
    invalid = InvalidLink("This confirmation link is not valid (used, expired or replaced).")
    if not isinstance(token, str) or not token or len(token) > 1000:
        raise invalid
    try:
        data = signing.loads(token, salt=EMAIL_CHANGE_SALT, max_age=EMAIL_CHANGE_HOURS * 3600)
        return int(data["u"]), str(data["e"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise invalid from None


def _apply_pending_keys(user, pending: PendingEmailKeys) -> None:
    """Inside the confirm's transaction: the new salt, auth hash and wrapping."""
    now = timezone.now()
    ClientAuth.objects.filter(user=user).update(
        account_salt=bytes(pending.account_salt), work_factor=pending.work_factor,
        auth_hash=bytes(pending.auth_hash), updated_at=now)
    WrappedIdentity.objects.filter(user=user).update(password_blob=bytes(pending.password_blob),
                                                     updated_at=now)
    pending.delete()


def do_confirm_email_change(token, *, request=None) -> User:
    """Switch to the pending address named by a valid link, with its keys, atomically.

    Refused (``InvalidLink``, nothing changed) when the link is not the latest request's,
    or when the password or keys changed since the request (the pending keys would undo
    that change; the pending change is dropped and must be asked again).
    """
    user_id, new_email = _token_data(token)
    invalid = InvalidLink("This confirmation link is not valid (used, expired or replaced).")
    try:
        with transaction.atomic():
            user = User.objects.select_for_update().filter(pk=user_id, is_active=True).first()
            if user is None or not user.pending_email or user.pending_email != new_email:
                raise invalid
            pending = PendingEmailKeys.objects.filter(user=user, email=new_email).first()
            if pending is None:
                raise invalid
            if not hmac.compare_digest(bytes(pending.based_on), _current_fingerprint(user)):
                # Committed (no raise inside the block): the stale request is dropped.
                pending.delete()
                User.objects.filter(pk=user.pk).update(pending_email="")
                user = None
            elif User.objects.filter(email=new_email).exclude(pk=user.pk).exists():
                raise EmailTaken("Another account uses this email address now.",
                                 field="new_email")
            else:
                _switch_address(user, new_email, pending, request)
    except IntegrityError:
        raise EmailTaken("Another account uses this email address now.",
                         field="new_email") from None
    if user is None:
        raise InvalidLink("Your password or keys changed after you asked for this change; "
                          "ask for the email change again.")
    return user


def _switch_address(user, new_email: str, pending: PendingEmailKeys, request) -> None:
    """Inside the confirm's transaction: the address, then its keys; both addresses told."""
    old_email = user.email
    user.email = new_email
    user.pending_email = ""
    user.email_verified_at = timezone.now()  # the link reached the new address
    user.save(update_fields=["email", "pending_email", "email_verified_at"])
    _apply_pending_keys(user, pending)
    audit("email_changed", user, ip=request_ip(request))
    send_security_email(user, "email_changed", request, to=old_email)
    send_security_email(user, "email_changed", request)
