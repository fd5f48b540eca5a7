"""Second-factor verification: TOTP and backup codes through django-otp (DESIGN.md §4).

- ``has_second_factor(user)``: what the password
  step looks at to decide whether a code step follows.
- ``verify_code(user, code)``: checks a code against the user's confirmed
  devices and returns the device that accepted it, or raises ``CodeRejected``
  or ``CodeThrottled``. A six-digit code goes to the authenticator app
  (TOTP), anything else to the backup codes, so a typo in one never counts
  against the other's throttle.
- Atomic: each device is verified inside ``transaction.atomic()`` with its row
  locked (``select_for_update``; on SQLite the settings make every
  transaction IMMEDIATE, which serializes writers the same way). Two parallel
  requests with one TOTP code therefore see each other's ``last_t`` (django-
  otp's replay protection) and one of them fails; a backup code is consumed by
  one conditional UPDATE (``BackupCodeDevice.verify_token``).
- Throttling is django-otp's (``ThrottlingMixin``: each failure doubles the
  delay before the next attempt is even checked); the per-account rate limit
  ``otp_account`` is applied by the callers in ``accounts.actions``.

Nothing here logs a code.
"""

from __future__ import annotations

import base64
import math
import re
from io import BytesIO

import segno
from django.db import transaction
from django.utils import timezone
from django_otp import devices_for_user
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.errors import ApiError, TooManyRequests, seconds_phrase
from accounts.models import BackupCodeDevice, ForgivingTOTPDevice

TOTP_CODE = re.compile(r"^\d{6}$")
MAX_CODE_LENGTH = 40


class CodeError(ApiError):
    """A second-factor code that was not accepted (always about the ``code`` field)."""
    code = "invalid_code"
    status = 400


class CodeRejected(CodeError):
    """Wrong, reused or malformed code."""
    def __init__(self, message: str = "That code is not valid. Check it and try again."):
        super().__init__(message, field="code")


class CodeThrottled(CodeError, TooManyRequests):
    """Too many wrong codes in a row: wait ``retry_after`` seconds before trying again."""
    code = "too_many_attempts"
    status = 429

    def __init__(self, retry_after: int):
        wait = seconds_phrase(retry_after)
        TooManyRequests.__init__(self, f"Too many wrong codes. Try again in {wait}.",
                                 retry_after, field="code")


def clean_code(code) -> str:
    if not isinstance(code, str) and not isinstance(code, int):
        raise CodeRejected("Enter the code from your authenticator app or a backup code.")
    text = "".join(str(code).split())
    if not text or len(text) > MAX_CODE_LENGTH:
        raise CodeRejected("Enter the code from your authenticator app or a backup code.")
    return text


def has_second_factor(user) -> bool:
    return any(True for _ in devices_for_user(user, confirmed=True))


def confirmed_totp(user) -> ForgivingTOTPDevice | None:
    return ForgivingTOTPDevice.objects.filter(user=user, confirmed=True).first()


def _locked_until_seconds(device) -> int | None:
    allowed, info = device.verify_is_allowed()
    if allowed:
        return None
    until = (info or {}).get("locked_until")
    if until is None:
        return 1
    return max(1, math.ceil((until - timezone.now()).total_seconds()))


def _verify_locked(model, pk, code: str):
    """Verify one device with its row locked; returns (device or None, retry_after or None)."""
    with transaction.atomic():
        device = model.objects.select_for_update().filter(pk=pk, confirmed=True).first()
        if device is None:
            return None, None
        wait = _locked_until_seconds(device)
        if wait is not None:
            return None, wait
        if device.verify_token(code):
            return device, None
        return None, None


def verify_code(user, code) -> object:
    """The confirmed device that accepts ``code`` (consuming it), or CodeRejected/Throttled."""
    code = clean_code(code)
    model = ForgivingTOTPDevice if TOTP_CODE.match(code) else BackupCodeDevice
    throttled: list[int] = []
    for pk in model.objects.filter(user=user, confirmed=True).values_list("pk", flat=True):
        device, wait = _verify_locked(model, pk, code)
        if device is not None:
            return device
        if wait is not None:
            throttled.append(wait)
    if throttled:
        raise CodeThrottled(min(throttled))
    raise CodeRejected()


def verify_unconfirmed_totp(device: TOTPDevice, code) -> bool:
    """The first code of a new authenticator, under the same row lock and throttle."""
    code = clean_code(code)
    if not TOTP_CODE.match(code):
        raise CodeRejected("Enter the six-digit code your authenticator app shows.")
    with transaction.atomic():
        locked = ForgivingTOTPDevice.objects.select_for_update().filter(pk=device.pk).first()
        if locked is None:
            raise CodeRejected("Start the authenticator setup again.")
        wait = _locked_until_seconds(locked)
        if wait is not None:
            raise CodeThrottled(wait)
        return locked.verify_token(code)


# --- Enrolment helpers ----------------------------------------------------------------

def base32_secret(device: TOTPDevice) -> str:
    return base64.b32encode(device.bin_key).decode().rstrip("=")


def qr_svg(uri: str) -> str:
    """An inline ``<svg>`` QR code (no script, no style attribute: fine under the CSP)."""
    qr = segno.make(uri, error="m")
    out = BytesIO()
    qr.save(out, kind="svg", scale=5, border=2, xmldecl=False, svgns=True,
            title="QR code for your authenticator app", svgclass="qr", lineclass=None,
            omitsize=False)
    return out.getvalue().decode()
