"""Security emails: plain text, one template, no secrets (DESIGN.md §4).

``send_security_email(user, kind, request=None)`` tells the account's owner
that something happened to it (a new login, a password, second-factor or key
change, a reset, an export, an email change). It is sent after the current
transaction commits, so a rolled-back change sends nothing. Bodies carry the
kind of event, the time, the client address and a device label; never a
password, code, key or token. The two link emails (password reset, email
verification) carry exactly one link each, and nothing logs it.

Delivery goes through Django's configured mailer (``MAILERS``: console by
default, SMTP in production). A failed delivery is logged without the
address or the body and never fails the action that sent it.
"""

from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import connection, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.useragent import describe_user_agent

logger = logging.getLogger(__name__)

# kind -> (subject, summary line, optional detail paragraph)
SECURITY_EMAILS: dict[str, tuple[str, str, str]] = {
    "new_login": (
        "New login to your SecureChat account",
        "Your account was just logged into.",
        "",
    ),
    "password_changed": (
        "Your SecureChat password was changed",
        "The password of your account was changed. Your other sessions were ended.",
        "",
    ),
    "password_reset": (
        "Your SecureChat password was reset",
        "The password of your account was reset with your recovery code. Your history "
        "is kept; the old recovery code no longer works and a new one was shown once.",
        "",
    ),
    "keys_reset": (
        "Your SecureChat password and keys were reset",
        "The password of your account was reset without the recovery code, so the "
        "account has new keys.",
        "Messages and files from before the reset can no longer be read. Your "
        "contacts will see that your keys changed.",
    ),
    "totp_enabled": (
        "An authenticator app was added to your SecureChat account",
        "An authenticator app now protects your account as a second factor.",
        "",
    ),
    "totp_disabled": (
        "An authenticator app was removed from your SecureChat account",
        "The authenticator app of your account was removed.",
        "",
    ),
    "backup_codes_generated": (
        "New SecureChat backup codes",
        "A new set of backup codes was generated; the previous codes no longer work.",
        "",
    ),
    "devices_reset": (
        "Your SecureChat second factor was reset",
        "An administrator removed the second-factor devices of your account.",
        "Set up an authenticator app again the next time you log in.",
    ),
    "keys_rotated": (
        "Your SecureChat keys were renewed",
        "Your account has a new key generation, signed by the previous one. Your "
        "history stays readable.",
        "",
    ),
    "identity_exported": (
        "Your SecureChat keys were exported",
        "A copy of your keys (encrypted under your password) was downloaded.",
        "Whoever holds that file and your password can read your messages and files.",
    ),
    "email_change_requested": (
        "Your SecureChat email address is about to change",
        "Someone asked to move your account to another email address. It changes "
        "only once the new address is confirmed.",
        "",
    ),
    "email_changed": (
        "Your SecureChat email address was changed",
        "The email address of your account was changed.",
        "",
    ),
    "account_deleted": (
        "Your SecureChat account is being deleted",
        "Your account, its keys and its sessions are being deleted.",
        "Nobody, including the operator, can restore them.",
    ),
    "reset_cancelled": (
        "A SecureChat password reset was cancelled",
        "A reset of your password without the recovery code was cancelled before it "
        "took effect. Your password and keys did not change.",
        "",
    ),
    "deactivated": (
        "Your SecureChat account was deactivated",
        "An administrator deactivated your account and ended its sessions.",
        "",
    ),
}


def site_url() -> str:
    """The canonical origin for links: the first configured origin, never a Host header."""
    origins = getattr(settings, "SECURECHAT_ORIGINS", None) or ["http://127.0.0.1:8000"]
    return origins[0].rstrip("/")


def client_details(request) -> dict:
    if request is None:
        return {"ip": None, "device": None}

    agent = request.META.get("HTTP_USER_AGENT", "")[:300]
    return {"ip": request.META.get("REMOTE_ADDR"),
            "device": describe_user_agent(agent) if agent else None}


def _deliver(subject: str, body: str, to: str, kind: str) -> None:
    try:
        EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [to]).send()
    except Exception:
        # Never the address, body or link: only which kind of mail failed.
        logger.warning("could not send the %s email", kind)


def _after_commit(subject: str, body: str, to: str, kind: str) -> None:
    transaction.on_commit(lambda: _deliver(subject, body, to, kind))


_background: list[threading.Thread] = []
_background_lock = threading.Lock()


def after_response(task, kind: str) -> None:
    """Run ``task`` in its own thread once the transaction commits, off the request.

    For work whose duration must not show in the response (issue 17: the
    password-reset mail, looked up and sent whether or not the address has an
    account, so every request costs the caller the same). A failure is logged
    by ``kind`` only; the thread closes its own database connection.
    """
    def run():
        try:
            task()
        except Exception:
            logger.warning("could not send the %s email", kind)
        finally:
            connection.close()

    def start():
        thread = threading.Thread(target=run, name=f"securechat-{kind}", daemon=True)
        with _background_lock:
            _background[:] = [t for t in _background if t.is_alive()]
            _background.append(thread)
        thread.start()

    transaction.on_commit(start)


def wait_for_background(timeout: float = 10) -> None:
    """Join the ``after_response`` threads started so far (tests, graceful shutdown)."""
    with _background_lock:
        threads = list(_background)
    for thread in threads:
        thread.join(timeout)


def render_security_email(kind: str, *, request=None, when=None) -> tuple[str, str]:
    subject, summary, detail = SECURITY_EMAILS[kind]
    body = render_to_string("emails/security_event.txt", {
        "summary": summary, "detail": detail, "when": when or timezone.now(),
        "site_url": site_url(), **client_details(request),
    })
    return subject, body


def send_security_email(user, kind: str, request=None, *, to: str | None = None) -> None:
    """Tell the account's owner (``to`` overrides the address) about ``kind``, after commit."""
    subject, body = render_security_email(kind, request=request)
    _after_commit(subject, body, to or user.email, kind)


def send_security_email_now(user, kind: str, request=None) -> None:
    """The same, delivered at once (for a deletion, where the address is about to go)."""
    subject, body = render_security_email(kind, request=request)
    _deliver(subject, body, user.email, kind)


def password_reset_mail(link: str, valid_hours: int) -> tuple[str, str]:
    """(subject, body) of the reset link mail."""
    body = render_to_string("emails/password_reset_link.txt",
                            {"link": link, "valid_hours": valid_hours})
    return "Reset your SecureChat password", body


def send_email_change_link(new_email: str, link: str, valid_hours: int) -> None:
    body = render_to_string("emails/email_change_verify.txt",
                            {"link": link, "valid_hours": valid_hours})
    _after_commit("Confirm your new SecureChat email address", body, new_email,
                  "email change link")


def send_invitation(email: str, link: str, valid_days: int) -> None:
    """The invitation link, delivered at once; a failure raises (the caller rolls back)."""
    body = render_to_string("emails/invitation.txt", {"link": link, "valid_days": valid_days})
    EmailMessage("You are invited to SecureChat", body, settings.DEFAULT_FROM_EMAIL,
                 [email]).send()


def send_held_reset_mail(user, cancel_link: str, publish_at) -> None:
    """The held reset's notice with its one cancel link, after commit (never logged)."""
    body = render_to_string("emails/reset_held.txt",
                            {"link": cancel_link, "publish_at": publish_at})
    _after_commit("Your SecureChat password will be reset without your recovery code", body,
                  user.email, "held reset notice")
