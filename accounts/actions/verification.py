"""Email verification links."""

from __future__ import annotations

from django.core.signing import BadSignature, TimestampSigner
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts import emails  # emails._deliver at call time (tests slow it)
from accounts.actions.base import InvalidToken, audit, rate_limit
from accounts.emails import site_url
from accounts.errors import Conflict
from accounts.models import (
    PendingClaim,
    User,
)

EMAIL_TOKEN_SALT = "securechat.accounts.verify-email"  # noqa: S105 - a signing salt


EMAIL_TOKEN_MAX_AGE = 3 * 24 * 3600


def email_verification_token(user: User) -> str:
    return TimestampSigner(salt=EMAIL_TOKEN_SALT).sign_object(
        {"u": user.pk, "e": user.email})


def do_send_email_verification(user: User) -> None:
    """Email a verification link (valid 3 days), after commit; the link is never logged."""
    link = site_url() + reverse("verify-email", args=[email_verification_token(user)])
    body = render_to_string("accounts/auth/email_verify.txt",
                            {"link": link, "valid_days": EMAIL_TOKEN_MAX_AGE // 86400})
    address = user.email
    transaction.on_commit(lambda: emails._deliver("Confirm your SecureChat email address", body,
                                           address, "email verification link"))


class AlreadyVerified(Conflict):
    code = "already_verified"


def do_resend_email_verification(user: User) -> None:
    """A new verification link at the user's asking: 409 ``already_verified`` when there
    is nothing to verify, else rate-limited per account (``RateLimited``)."""
    if user.email_verified:
        raise AlreadyVerified("Your email address is already verified.")
    rate_limit("verify_email_account", user.pk)
    do_send_email_verification(user)


def check_verify_email(token) -> User:
    """The active user a verification link names, or ``InvalidToken``; changes nothing.

    The token must be recent (3 days) and name the account's current address.
    The confirm page runs this on GET, so a link opened by a mail scanner shows
    whether it is valid without verifying anything (DESIGN.md §4).
    """
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
    if user is None or user.email != data.get("e"):
        raise InvalidToken("This verification link is no longer valid.")
    return user


def do_verify_email(token) -> User:
    """Mark the address verified (``check_verify_email`` first); only ever on a POST."""
    user = check_verify_email(token)
    if user.email_verified_at is None:
        User.objects.filter(pk=user.pk, email_verified_at__isnull=True).update(
            email_verified_at=timezone.now())
        user.refresh_from_db(fields=["email_verified_at"])
        audit("email_verified", user)

    PendingClaim.objects.filter(email=user.email).delete()  # the first to verify wins
    return user
