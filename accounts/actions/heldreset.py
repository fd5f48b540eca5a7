"""Version 2 reset without the recovery code: held, cancellable, then published
(DESIGN.md §4; docs/api.md "Version 2 account changes").

The client made a new identity whose only generation is the next number,
unendorsed (nothing can sign for it), a new recovery code and a new password.
The server keeps what it would publish in a ``HeldReset`` for
``SECURECHAT_RESET_HOLD`` hours and changes nothing else: the old password keeps
working, sessions stay. Until the publish job runs, the hold is cancelled by any
complete session of the account, by the emailed cancel link, or by a cancel
statement signed with the current generation's key (which needs no session, so
it wins even when the attacker ended the user's sessions). ``publish_due_resets``
(``manage.py publish_held_resets``; ``purge_expired --yes``, which the purge
timer runs, calls it too) then retires the
current generation, publishes the new one, stores the new auth key and wrapping
and ends every session.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import clientauth, stages
from accounts.actions.base import InvalidLink, audit, client_ip, rate_limit, request_ip
from accounts.actions.clientchanges import (
    Rewrap,
    check_link_unspent,
    check_rewrap,
    client_auth_of,
    link_hash,
)
from accounts.actions.sessions import end_login_sessions
from accounts.emails import send_held_reset_mail, send_security_email, site_url
from accounts.errors import ApiError, NotFound, NotLoggedIn
from accounts.events import close_user_sockets
from accounts.models import ClientAuth, HeldReset, KeyGeneration, User, WrappedIdentity
from accounts.stepup import require_second_factor
from client.changes import reset_cancel_statement
from client.errors import ClientCryptoError
from client.signing import verify


class ResetPending(ApiError):
    code = "reset_pending"
    status = 409


def cancel_hash(token: str) -> bytes:
    return hashlib.sha256(f"securechat/v2/reset-cancel-link {token}".encode()).digest()


@dataclass(frozen=True, repr=False)
class HoldRequest:
    user: User
    rewrap: Rewrap
    generation: int
    recipient: str
    signing_key: bytes
    recovery_wrapped: bytes


def check_hold(uidb64, token, body: dict, *, ip: str | None) -> HoldRequest:
    """The rate limit per client address, the link, every field, no hold pending, then
    the second factor (never skipped)."""
    rate_limit("reset_address", ip)
    user = check_link_unspent(uidb64, token)
    rewrap = check_rewrap(client_auth_of(user), body, auth_field="auth_key")
    latest = (KeyGeneration.objects.filter(user=user).order_by("-number")
              .values_list("number", flat=True).first()) or 0
    generation = body.get("generation")
    if isinstance(generation, bool) or generation != latest + 1:
        raise ApiError("generation must be the newest one plus 1.", field="generation")
    key_type = settings.SECURECHAT_KEY_TYPE
    recipient = clientauth.check_recipient(body.get("recipient"), key_type)
    signing_key = clientauth.check_signing_key(body.get("signing_key"))
    recovery = clientauth.b64_field(body.get("recovery_wrapped"), "recovery_wrapped")
    clientauth.check_recovery_wrapped(recovery, key_type)
    if HeldReset.objects.filter(user=user, state=HeldReset.HELD).exists():
        raise ResetPending("A reset of this account is already waiting; cancel it first.")
    require_second_factor(user, body.get("code"))
    return HoldRequest(user, rewrap, generation, recipient, signing_key, recovery)


def do_hold_reset(uidb64, token: str, held: HoldRequest, *, request=None) -> HeldReset:
    """Store the held reset and mail its cancel link; nothing else changes yet."""
    cancel_token = secrets.token_urlsafe(32)
    publish_at = timezone.now() + timedelta(hours=settings.SECURECHAT_RESET_HOLD)
    try:
        with transaction.atomic():
            User.objects.select_for_update().filter(pk=held.user.pk).first()
            check_link_unspent(uidb64, token)  # a reset with the code may have used it
            row = HeldReset.objects.create(
                user=held.user, generation=held.generation, recipient=held.recipient,
                signing_public_key=held.signing_key,
                auth_hash=clientauth.auth_hash(held.rewrap.auth_key),
                work_factor=held.rewrap.work_factor,
                password_blob=held.rewrap.wrapped_identity,
                recovery_blob=held.recovery_wrapped, link_hash=link_hash(token),
                cancel_hash=cancel_hash(cancel_token), publish_at=publish_at)
            audit("reset_held", held.user, ip=request_ip(request))
            send_held_reset_mail(held.user, f"{site_url()}/password-reset/cancel/{cancel_token}",
                                 publish_at)
    except IntegrityError:  # the same link, or another hold, won a race
        raise ResetPending("A reset of this account is already waiting.") from None
    return row


def pending_hold(user) -> HeldReset | None:
    return HeldReset.objects.filter(user=user, state=HeldReset.HELD).first()


def check_signed_cancel(body: dict) -> HeldReset:
    """A held reset and a valid signature by its account's current generation, or 4xx."""
    user_id, hold_id = body.get("user_id"), body.get("hold")
    if not all(isinstance(v, int) and not isinstance(v, bool) and 0 < v < 2**63
               for v in (user_id, hold_id)):
        raise ApiError("user_id and hold must be positive integers.", field="hold")
    signature = clientauth.b64url_field(body.get("signature"), "signature", 64)
    hold = HeldReset.objects.filter(pk=hold_id, user_id=user_id, state=HeldReset.HELD).first()
    current = KeyGeneration.objects.current().filter(user_id=user_id).first()
    if hold is None or current is None:
        raise NotFound("No reset of this account is waiting.")
    try:
        verify(bytes(current.signing_public_key), reset_cancel_statement(user_id, hold_id),
               signature)
    except ClientCryptoError:
        raise ApiError("The signature does not verify with the account's current key.",
                       field="signature") from None
    return hold


def check_cancel_token(token) -> HeldReset:
    if not isinstance(token, str) or not 20 <= len(token) <= 100:
        raise InvalidLink("This cancel link is not valid (used or mistyped).")
    hold = HeldReset.objects.filter(cancel_hash=cancel_hash(token),
                                    state=HeldReset.HELD).first()
    if hold is None:
        raise InvalidLink("This cancel link is not valid (used or mistyped).")
    return hold


def check_cancel(request, body: dict) -> tuple[HeldReset, str]:
    """The hold a cancel names and how it was proven, rate-limited per client address:
    ``{cancel_token}`` from the email, ``{user_id, hold, signature}`` signed by the
    current generation, or ``{}`` from a complete session of the account."""
    rate_limit("reset_address", client_ip(request))
    if "cancel_token" in body:
        return check_cancel_token(body.get("cancel_token")), "email link"
    if "signature" in body:
        return check_signed_cancel(body), "signed"
    if not request.user.is_authenticated:
        raise NotLoggedIn()
    if not stages.login_complete(request.session):
        raise NotLoggedIn("Finish logging in first.")
    hold = pending_hold(request.user)
    if hold is None:
        raise NotFound("No reset of this account is waiting.")
    return hold, "session"


def do_cancel_held_reset(hold: HeldReset, how: str, *, request=None) -> None:
    """Cancel ``hold`` if it is still held (a concurrent publish or cancel may have won)."""
    with transaction.atomic():
        changed = HeldReset.objects.filter(pk=hold.pk, state=HeldReset.HELD).update(
            state=HeldReset.CANCELLED, finished_at=timezone.now(), finished_by=how)
        if not changed:
            raise NotFound("No reset of this account is waiting.")
        audit("reset_cancelled", hold.user, ip=request_ip(request))
        send_security_email(hold.user, "reset_cancelled", request)


def due_resets(now=None) -> int:
    """How many held resets the next publish would publish (reads only)."""
    return HeldReset.objects.filter(state=HeldReset.HELD,
                                    publish_at__lte=now or timezone.now()).count()


def publish_due_resets(now=None) -> int:
    """Publish every held reset whose hold has ended; the number published."""
    now = now or timezone.now()
    published = 0
    for pk in HeldReset.objects.filter(state=HeldReset.HELD, publish_at__lte=now) \
            .values_list("pk", flat=True):
        published += _publish(pk, now)
    return published


def _publish(pk: int, now) -> int:
    with transaction.atomic():
        hold = HeldReset.objects.select_for_update().filter(
            pk=pk, state=HeldReset.HELD, publish_at__lte=now).first()
        if hold is None:  # cancelled meanwhile: the cancel wins
            return 0
        user = User.objects.select_for_update().get(pk=hold.user_id)
        current = KeyGeneration.objects.current().select_for_update().filter(user=user).first()
        if current is not None and current.number != hold.generation - 1:
            hold.state, hold.finished_at, hold.finished_by = HeldReset.CANCELLED, now, "stale"
            hold.save(update_fields=["state", "finished_at", "finished_by"])
            return 0  # the user rotated keys meanwhile: they are in control
        if current is not None:
            current.retired_at = now
            current.save(update_fields=["retired_at"])
        KeyGeneration.objects.create(
            user=user, number=hold.generation, key_type=settings.SECURECHAT_KEY_TYPE,
            recipient=hold.recipient, signing_public_key=bytes(hold.signing_public_key),
            endorsement=None, endorsement_back=None)
        ClientAuth.objects.filter(user=user).update(
            auth_hash=bytes(hold.auth_hash), work_factor=hold.work_factor, updated_at=now)
        WrappedIdentity.objects.filter(user=user).update(
            password_blob=bytes(hold.password_blob), recovery_blob=bytes(hold.recovery_blob),
            updated_at=now)
        user.set_unusable_password()  # a new marker: every other reset link stops working
        user.save(update_fields=["password"])
        hold.state, hold.finished_at, hold.finished_by = HeldReset.PUBLISHED, now, "hold ended"
        hold.save(update_fields=["state", "finished_at", "finished_by"])
        end_login_sessions(user)
        close_user_sockets(user.pk)
        audit("keys_reset", user)
        audit("password_reset", user)
        send_security_email(user, "keys_reset")
    return 1
