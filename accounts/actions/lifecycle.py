"""The password reset request and account deletion (the email change: emailchange.py).

Password change, reset, key rotation and export run on the client with the
version 2 endpoints (accounts.actions.clientchanges, heldreset): the server never
sees a password or an unwrapped key.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.db import transaction
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode

from accounts import emails, stages  # emails._deliver at call time (tests slow it)
from accounts.actions.base import (
    AccountError,
    InvalidLink,
    audit,
    rate_limit,
    request_ip,
)
from accounts.actions.sessions import end_login_sessions
from accounts.emails import (
    after_response,
    password_reset_mail,
    send_security_email_now,
    site_url,
)
from accounts.events import close_user_sockets
from accounts.models import (
    User,
)
from accounts.stepup import check_step_up


def do_request_password_reset(email, *, request=None) -> None:
    """Email a reset link to an active account, after the response; the same for any address.

    Only the address's shape is checked on the request path: the lookup, the
    token and the mail run in a thread after commit (``emails.after_response``),
    so the answer and its timing are the same whether or not an account exists.
    """
    rate_limit("reset_address", request_ip(request))
    if not isinstance(email, str) or len(email) > 254 or "@" not in email:
        raise AccountError("Enter a valid email address.", field="email")
    after_response(lambda: _send_reset_link(email), "password reset link")


def _send_reset_link(email: str) -> None:
    user = User.objects.by_address(email).filter(is_active=True).first()
    if user is None or not hasattr(user, "client_auth"):
        return  # an account without client keys has nothing a reset could re-wrap
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    subject, body = password_reset_mail(f"{site_url()}/password-reset/{uid}/{token}/",
                                        reset_link_hours())
    emails._deliver(subject, body, user.email, "password reset link")


def reset_link_hours() -> int:
    """How long a reset link works (Django's PASSWORD_RESET_TIMEOUT), in whole hours."""
    return max(1, settings.PASSWORD_RESET_TIMEOUT // 3600)


def user_for_reset_link(uidb64, token) -> User:
    """The user a reset link names, or InvalidLink (wrong, used or expired)."""
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


def do_delete_account(user, *, request=None) -> None:
    """Delete the account with its keys and sessions; an audit row without the user stays."""
    send_security_email_now(user, "account_deleted", request)
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        end_login_sessions(locked)
        close_user_sockets(locked.pk)
        audit("account_deleted", None, ip=request_ip(request))
        locked.delete()


def do_delete_own_account(request, *, step_up: dict) -> None:
    """The signed-in user deletes their account: the step-up, the deletion, then this
    session's bookkeeping and cookies go (the others ended with the account)."""
    check_step_up(request.user, step_up)
    do_delete_account(request.user, request=request)
    stages.forget_everything(request)
    request.session.flush()
