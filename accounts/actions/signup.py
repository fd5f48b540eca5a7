"""Who may sign up (registration mode, invitations) and invitations for invite-only
registration. The signup itself is ``accounts.actions.clientkeys.do_client_signup``: the
keys are made on the client."""

from __future__ import annotations

import secrets
from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.actions.base import (
    AccountError,
    EmailTaken,
    RegistrationClosed,
    audit,
    normalize_email,
    rate_limit,
)
from accounts.actions.squatting import release_if_stale
from accounts.emails import send_invitation, site_url
from accounts.models import (
    Invitation,
    User,
)
from accounts.models.invitations import hash_token


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


INVITATION_DAYS_DEFAULT = 7


INVITATION_DAYS_MAX = 365


def invitation_link(email: str, token: str) -> str:
    """The signup page with the invitation token and the invited address filled in."""
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
    email = normalize_email(email)
    if actor is not None:  # a user inviting (the operator's command has no actor)
        rate_limit("invite_user", actor.pk)
    email = check_invite(email, days, staff=staff)
    return create_invitation(email, days, actor=actor, send=send, staff=staff)


def create_invitation(email: str, days: int, *, actor=None, send: bool = False,
                      staff: bool = False) -> str:
    """``do_invite`` once checked and counted: store the invitation, mail it with ``send``."""
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    with transaction.atomic():
        Invitation.objects.create(email=email, token_hash=hash_token(token), created_by=actor,
                                  created_at=now, expires_at=now + timedelta(days=days),
                                  staff=staff)
        audit("admin_invited" if staff else "invited", None, actor=actor)
        if send:

            send_invitation(email, invitation_link(email, token), days)
    return token
