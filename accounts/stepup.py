"""Step-up, version 2: a fresh ``auth_key`` from the current password, and a fresh
second-factor code when 2FA is on (DESIGN.md §4, docs/protocol.md §27).

The actions of enrolling or removing the second factor, regenerating backup codes,
changing the email address or the password, rotating the keys, exporting the identity
and deleting the account take the request's ``{auth_key, code?}`` (``step_up``) and
call ``check_step_up`` before they change anything. The client
derives ``auth_key`` from the current password exactly as for a login (prelogin's
salt and work factor); the server compares ``HMAC(AUTH_PEPPER, auth_key)`` with the
stored hash (``accounts.actions.clientchanges.check_client_step_up``) under a
per-account rate limit, and only when it matches checks a code, so a wrong password
never burns a code. The server never receives the password: a ``password`` field is
refused with 400 by the endpoints' field lists.

Codes are verified on the user's confirmed devices by ``accounts.otp.verify_code``
(each device row locked inside a transaction), so TOTP replay protection ("fresh":
a code already used, for the login for instance, is refused), django-otp's
throttling and single-use backup codes hold under concurrent requests. Wrong codes
raise ``accounts.otp.CodeRejected`` / ``CodeThrottled``.
"""

from __future__ import annotations

from accounts import otp
from accounts.actions.base import AccountError

STEP_UP_LIMIT = (10, 300)  # attempts per account per window (seconds), unless configured
STEP_UP_FIELDS = ("auth_key", "code")


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


def check_step_up(user, step_up: dict) -> None:
    """Raise ``AccountError`` (or ``RateLimited``) unless ``step_up``'s ``{auth_key, code?}``
    prove the user again: 403 ``wrong_password`` / ``code_required`` / ``invalid_code``."""
    # Imported here: accounts.actions.clientchanges imports this module (WrongPassword).
    from accounts.actions.clientchanges import check_client_step_up

    check_client_step_up(user, step_up.get("auth_key"), step_up.get("code"))
