"""Second-factor devices: backup codes (ten single-use codes, stored hashed), and the
throttle both they and TOTP use, which forgives a typo."""

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone
from django_otp.models import (
    MAX_THROTTLE_DELAY_SECONDS,
    Device,
    ThrottlingMixin,
    TimestampMixin,
    VerifyNotAllowed,
)
from django_otp.plugins.otp_totp.models import TOTPDevice

BACKUP_CODE_COUNT = 10
BACKUP_CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no look-alikes
BACKUP_CODE_LENGTH = 10  # about 49 bits each


class ForgivingThrottleMixin:
    """django-otp's doubling delay, starting only after a few wrong codes in a row.

    django-otp locks a device for ``factor × 2^(n-1)`` seconds after the n-th
    failure, so one mistyped code made the right code typed at once fail. Here
    the first ``SECURECHAT_OTP_FREE_FAILURES`` failures cost no wait; the next
    ones wait 1, 2, 4, … seconds (× the factor, capped like django-otp's).
    Guessing stays bounded by that and by the per-account rate limit.
    """

    def verify_is_allowed(self):
        free = settings.SECURECHAT_OTP_FREE_FAILURES
        failures = self.throttling_failure_count
        if (not self.throttling_enabled or failures <= free
                or self.throttling_failure_timestamp is None):
            return Device.verify_is_allowed(self)
        required = min(self.get_throttle_factor() * 2 ** (failures - free - 1),
                       MAX_THROTTLE_DELAY_SECONDS)
        locked_until = self.throttling_failure_timestamp + timedelta(seconds=required)
        if timezone.now() < locked_until:
            return False, {"reason": VerifyNotAllowed.N_FAILED_ATTEMPTS,
                           "failure_count": failures, "locked_until": locked_until}
        return Device.verify_is_allowed(self)


class ForgivingTOTPDevice(ForgivingThrottleMixin, TOTPDevice):
    """django-otp's TOTP device (same table) with the forgiving throttle; used to verify."""

    class Meta:
        proxy = True


def normalize_backup_code(token) -> str:
    return "".join(str(token).split()).replace("-", "").lower()


class BackupCodeDevice(ForgivingThrottleMixin, ThrottlingMixin, TimestampMixin, Device):
    """Single-use codes for when the authenticator is lost.

    Codes are random (about 49 bits), so a salted SHA-256 per code is enough:
    nobody can guess them offline, and a slow hash would make a login with
    ten candidates cost ten Argon2 runs. Verification consumes a code with one
    conditional UPDATE, so the same code used in two parallel requests succeeds
    once.
    """

    salt = models.CharField(max_length=32, default="")

    class Meta(Device.Meta):
        verbose_name = "backup code device"

    def get_throttle_factor(self):
        return getattr(settings, "OTP_BACKUP_THROTTLE_FACTOR", 1)

    def hash_code(self, code: str) -> str:
        return hashlib.sha256(f"{self.salt}:{normalize_backup_code(code)}".encode()).hexdigest()

    def generate_codes(self) -> list[str]:
        """Replace every code with a fresh set; returns the plain codes (shown once)."""
        codes = ["".join(secrets.choice(BACKUP_CODE_ALPHABET) for _ in range(BACKUP_CODE_LENGTH))
                 for _ in range(BACKUP_CODE_COUNT)]
        with transaction.atomic():
            self.salt = secrets.token_hex(16)
            self.save(update_fields=["salt"])
            self.codes.all().delete()
            BackupCode.objects.bulk_create(
                BackupCode(device=self, code_hash=self.hash_code(c)) for c in codes
            )
        return [f"{c[:5]}-{c[5:]}" for c in codes]

    def remaining(self) -> int:
        return self.codes.filter(used_at__isnull=True).count()

    def verify_token(self, token) -> bool:
        allowed, _ = self.verify_is_allowed()
        if not allowed:
            return False
        token = normalize_backup_code(token)
        if len(token) != BACKUP_CODE_LENGTH:
            self.throttle_increment(commit=True)
            return False
        candidate = self.hash_code(token)
        matched = False
        for code in self.codes.filter(used_at__isnull=True):
            if hmac.compare_digest(code.code_hash, candidate):
                # The conditional update is the atomic "use once".
                matched = bool(
                    BackupCode.objects.filter(pk=code.pk, used_at__isnull=True)
                    .update(used_at=timezone.now())
                )
                break
        if matched:
            self.throttle_reset(commit=False)
            self.set_last_used_timestamp(commit=False)
            self.save()
        else:
            self.throttle_increment(commit=True)
        return matched


class BackupCode(models.Model):
    device = models.ForeignKey(BackupCodeDevice, on_delete=models.CASCADE, related_name="codes")
    code_hash = models.CharField(max_length=64)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"backup code {self.pk} ({'used' if self.used_at else 'unused'})"
