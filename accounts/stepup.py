"""Step-up: the password again, and a fresh second-factor code when 2FA is on.

Exporting keys, changing the email address, the password or the second
factor, and regenerating backup codes call ``require_step_up`` first
(DESIGN.md §4). The password is checked with Argon2 inside a key-derivation
slot and under a per-account rate limit; only when it matches is a code
checked, so a wrong password never burns a code. Codes are verified on the
user's confirmed devices by ``accounts.otp.verify_code`` (each device row
locked inside a transaction), so TOTP replay protection ("fresh": a code
already used, for the login for instance, is refused), django-otp's
throttling and single-use backup codes hold under concurrent requests.
Wrong codes raise ``accounts.otp.CodeRejected`` / ``CodeThrottled`` (they
carry ``code`` and ``status`` like ``AccountError``).
"""

from __future__ import annotations

from django.conf import settings

from accounts import otp
from accounts.actions import AccountError
from accounts.throttle import check_rate, kdf_slot

STEP_UP_LIMIT = (10, 300)  # attempts per account per window (seconds), unless configured


class WrongPassword(AccountError):
    code = "wrong_password"
    status = 403


class CodeRequired(AccountError):
    code = "code_required"
    status = 403


def require_second_factor(user, code) -> None:
    """When the user has a confirmed device, a valid fresh code from it (consumed); else nothing."""
    if not otp.has_second_factor(user):
        return
    if code is None or code == "":
        raise CodeRequired("Enter a code from your authenticator app (or a backup code).",
                           field="code")
    otp.verify_code(user, code)  # CodeRejected / CodeThrottled


def check_password(user, password) -> None:
    limit, window = settings.SECURECHAT_RATE_LIMITS.get("stepup_account", STEP_UP_LIMIT)
    check_rate("stepup_account", str(user.pk), limit, window)
    if (not isinstance(password, str) or not password
            or len(password) > settings.SECURECHAT_PASSWORD_MAX_LENGTH):
        raise WrongPassword("Enter your current password.", field="password")
    with kdf_slot():
        matched = user.check_password(password)
    if not matched:
        raise WrongPassword("That is not your current password.", field="password")


def require_step_up(request, password, code=None, *, user=None) -> None:
    """Raise ``AccountError`` (or ``RateLimited``/``TooBusy``) unless the user proves it again."""
    user = user if user is not None else request.user
    if not user.is_authenticated:
        raise WrongPassword("Log in first.")
    check_password(user, password)
    require_second_factor(user, code)
