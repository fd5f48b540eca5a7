"""A signed-in user invites an address to SecureChat (DESIGN.md §5, issue 15 "Accounts").

A conversation can only start with a verified account. For any other address the
chat offers an invitation, and the answer must not tell the inviter which case it
was (DESIGN.md §5: unknown and unverified addresses look the same). So only the
inviter and the address's shape are checked on the request path; who holds the
address is looked up after the response (``accounts.emails.after_response``): no
account gets an invitation link, an unverified account a reminder to verify, a
verified account nothing (the inviter could have written to it).
"""

from __future__ import annotations

from django.conf import settings

from accounts.actions.base import (
    AccountError,
    EmailTaken,
    EmailUnverified,
    RegistrationClosed,
    normalize_email,
    rate_limit,
)
from accounts.actions.signup import INVITATION_DAYS_DEFAULT, check_invite, create_invitation
from accounts.actions.verification import do_send_email_verification
from accounts.emails import after_response
from accounts.models import User


def check_invite_contact(inviter: User, email) -> str:
    """The normalised address ``inviter`` may invite now, or an error (nothing counted)."""
    if not inviter.email_verified:
        raise EmailUnverified("Verify your own address before inviting anyone.")
    if settings.SECURECHAT_REGISTRATION == "closed":
        raise RegistrationClosed("Registration is closed on this server: an invitation "
                                 "would not work. Ask its operator.")
    address = normalize_email(email)
    if address == inviter.email:
        raise AccountError("That is your own address.", field="email")
    return address


def do_invite_contact(inviter: User, email) -> str:
    """Counts the invitation against ``invite_user`` and sends it after the response."""
    address = check_invite_contact(inviter, email)
    rate_limit("invite_user", inviter.pk)

    inviter_id = inviter.pk
    after_response(lambda: _invite_or_remind(inviter_id, address), "invitation")
    return address


def _invite_or_remind(inviter_id: int, address: str) -> None:
    holder = User.objects.filter(email=address).first()
    if holder is not None:
        if holder.is_active and not holder.email_verified:
            do_send_email_verification(holder)  # a reminder: the account exists
        return
    try:
        check_invite(address, INVITATION_DAYS_DEFAULT)
    except (EmailTaken, RegistrationClosed):  # taken or closed since the request
        return
    create_invitation(address, INVITATION_DAYS_DEFAULT,
                      actor=User.objects.filter(pk=inviter_id).first(), send=True)
