"""Signup (a user with fresh keys) and invitations for invite-only registration."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import identity as keys
from accounts.actions.base import (
    AccountError,
    EmailTaken,
    RegistrationClosed,
    audit,
    check_password_shape,
    normalize_email,
    rate_limit,
)
from accounts.actions.squatting import release_if_stale, replace_unverified, start_claim
from accounts.models import (
    Invitation,
    KeyGeneration,
    User,
    WrappedIdentity,
)
from accounts.models.invitations import hash_token
from accounts.throttle import kdf_slot

logger = logging.getLogger(__name__)


@dataclass
class SignupResult:
    user: User | None  # None while the signup is a claim (``claim_pending``)
    identity_file: keys.IdentityFile
    recovery_code: str
    # An unverified account held the address: the signup waits for its link.
    claim_pending: bool = False


def usable_invitation(email: str, token: str | None) -> Invitation | None:
    if not token or not isinstance(token, str) or len(token) > 200:
        return None
    return (
        Invitation.objects.usable()
        .filter(token_hash=hash_token(token), email=email)
        .first()
    )


def check_registration(email, invitation_token
                       ) -> tuple[str, Invitation | None, User | None]:
    """May ``email`` sign up now? (normalised address, the invitation it uses, the
    unverified account holding the address or None), or an error.

    Registration mode first (closed; invite-only needs a usable invitation for
    this address); an unverified holder past its time is released; a verified
    holder is 409 ``email_taken``.
    """
    email = normalize_email(email)
    mode = settings.SECURECHAT_REGISTRATION
    # An invitation for this address is used in every mode it works in: it proves the
    # address. A staff invitation (``createadmin``) works even while registration is closed.
    invitation = usable_invitation(email, invitation_token)
    if mode == "closed" and not (invitation is not None and invitation.staff):
        raise RegistrationClosed("Registration is closed on this server.")
    if mode == "invite" and invitation is None:
        raise RegistrationClosed("Registration needs a valid invitation for this address.")
    with transaction.atomic():
        release_if_stale(email)  # an unverified claim past its time frees the address
    holder = User.objects.filter(email=email).first()
    if holder is not None and holder.email_verified:
        raise EmailTaken("An account with this email address already exists.", field="email")
    return email, invitation, holder


def use_invitation(user: User, invitation: Invitation | None) -> None:
    """Inside the signup transaction: spend the invitation (once) and verify the address."""
    if invitation is None:
        return
    used = Invitation.objects.filter(pk=invitation.pk, used_at__isnull=True).update(
        used_at=timezone.now())
    if not used:
        raise RegistrationClosed("This invitation has already been used.")
    user.email_verified_at = timezone.now()  # the link went to this address
    user.admin_on_2fa = invitation.staff  # staff and superuser once 2FA is confirmed
    user.save(update_fields=["email_verified_at", "admin_on_2fa"])


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
    """Create a user with fresh keys; the recovery code is returned to show once.

    A verified account with the address: ``EmailTaken``. An unverified one
    (not yet released): the signup becomes a claim (``claim_pending``, no user)
    whose emailed link replaces that account (``accounts.actions.squatting``).
    """
    email = normalize_email(email)
    check_password_shape(password, User(email=email))
    email, invitation, holder = check_registration(email, invitation_token)

    with kdf_slot():
        password_hash = make_password(password)
        identity_file, code, wrapped = make_keys_for(User(), password)
    if holder is not None and invitation is None:
        # unverified: perhaps a squatter; the first to verify wins
        with transaction.atomic():
            start_claim(email, password_hash, identity_file, wrapped,
                        settings.SECURECHAT_KEY_TYPE)
            audit("signup", None, ip=ip)
        return SignupResult(None, identity_file, code, claim_pending=True)

    try:
        with transaction.atomic():
            if holder is not None:
                # The invitation link reached the mailbox: that is the verification the
                # unverified holder never did, so the invitee takes the address at once.
                replace_unverified(holder)
            user = User.objects.create(email=email, password=password_hash)
            wrapped.user = user
            wrapped.save(force_insert=True)
            KeyGeneration.objects.create(
                user=user, number=identity_file.current_generation,
                key_type=settings.SECURECHAT_KEY_TYPE,
                recipient=str(identity_file.recipient()),
                signing_public_key=identity_file.signing_public_key(),
            )
            use_invitation(user, invitation)
            audit("signup", user, ip=ip)
    except IntegrityError:
        raise EmailTaken("An account with this email address already exists.",
                         field="email") from None
    return SignupResult(user, identity_file, code)


INVITATION_DAYS_DEFAULT = 7


INVITATION_DAYS_MAX = 365


def invitation_link(email: str, token: str) -> str:
    """The signup page with the invitation token and the invited address filled in."""
    from urllib.parse import urlencode

    from accounts.emails import site_url

    return f"{site_url()}/signup/?{urlencode({'invitation': token, 'email': email})}"


def check_invite(email, days: int = INVITATION_DAYS_DEFAULT, *, staff: bool = False) -> str:
    """May ``email`` be invited for ``days`` days? The normalised address, or an error.

    A staff invitation (``createadmin``) works in every registration mode; an
    ordinary one is refused while registration is closed.
    """
    email = normalize_email(email)
    if settings.SECURECHAT_REGISTRATION == "closed" and not staff:
        raise RegistrationClosed("Registration is closed on this server "
                                 "(SECURECHAT_REGISTRATION=closed): an invitation would not "
                                 "work. Set it to \"invite\" first.")
    if isinstance(days, bool) or not isinstance(days, int) or not (
            1 <= days <= INVITATION_DAYS_MAX):
        raise AccountError(f"An invitation is valid for 1 to {INVITATION_DAYS_MAX} days.",
                           field="days")
    if User.objects.filter(email=email).exists():
        hint = (" To make that account an administrator, use \"users promote\"."
                if staff else "")
        raise EmailTaken("An account with this email address already exists." + hint,
                         field="email")
    return email


def do_invite(email, days: int = INVITATION_DAYS_DEFAULT, *, actor=None,
              send: bool = False, staff: bool = False) -> str:
    """Invite ``email`` for ``days`` days; returns the token (only its SHA-256 is stored).

    The token is good for one signup with that address while registration is
    ``invite`` (or ``open``). With ``send`` the link is emailed inside the
    transaction: a mail that cannot be delivered raises and leaves no
    invitation behind. Nobody ever chooses or sees the invitee's password.
    Invitations by a user (``actor``) count against ``invite_user``.
    """
    import secrets
    from datetime import timedelta

    email = normalize_email(email)
    if actor is not None:  # a user inviting (the operator's command has no actor)
        rate_limit("invite_user", actor.pk)
    email = check_invite(email, days, staff=staff)
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    with transaction.atomic():
        Invitation.objects.create(email=email, token_hash=hash_token(token), created_by=actor,
                                  created_at=now, expires_at=now + timedelta(days=days),
                                  staff=staff)
        audit("admin_invited" if staff else "invited", None, actor=actor)
        if send:
            from accounts.emails import send_invitation

            send_invitation(email, invitation_link(email, token), days)
    return token
