"""Second-factor devices: backup codes (ten single-use codes, stored hashed), and the
throttle both they and TOTP use, which forgives a typo."""

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.hashers import Argon2PasswordHasher
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
BACKUP_CODE_LENGTH = 15  # secret characters: 31^15, about 74 bits each
LEGACY_CODE_LENGTH = 10  # codes made before the index (salted SHA-256), until regenerated


class BackupCodeHasher(Argon2PasswordHasher):
    """Argon2id for backup codes, cheaper than the password's: each code carries
    74 random bits, so the slow hash only has to make a stolen table useless to
    brute force; the index means a login runs it once."""

    time_cost = 2
    memory_cost = 19 * 1024  # KiB (OWASP's minimum for Argon2id)
    parallelism = 1


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
    """django-otp's TOTP device (same table) with the forgiving throttle and a sealed seed.

    Every code path uses this class: ``key`` holds the seed sealed under
    ``SECURECHAT_TOTP_KEY`` (``accounts.totp_keys``), and ``bin_key``, which
    django-otp reads for codes and the otpauth URI, opens it.
    """

    class Meta:
        proxy = True

    @property
    def bin_key(self) -> bytes:
        from accounts.totp_keys import open_seed

        return open_seed(self.key, self.user_id)

    @classmethod
    def start_for(cls, user, name: str) -> "ForgivingTOTPDevice":
        """A new unconfirmed device whose fresh seed is stored sealed from the first save."""
        from accounts.totp_keys import new_sealed_seed

        return cls.objects.create(user=user, name=name, confirmed=False,
                                  key=new_sealed_seed(user.pk))


def normalize_backup_code(token) -> str:
    return "".join(str(token).split()).replace("-", "").lower()


class BackupCodeDevice(ForgivingThrottleMixin, ThrottlingMixin, TimestampMixin, Device):
    """Single-use codes for when the authenticator is lost.

    A code is its index (one digit, not secret: the position in the list the
    user saved) and 15 random characters (about 74 bits), shown as
    ``3-abcde-fghjk-mnpqr``. Each is stored as an Argon2id hash
    (``BackupCodeHasher``) under its index, so checking a code costs one slow
    hash, not ten. Verification consumes a code with one conditional UPDATE,
    so the same code used in two parallel requests succeeds once.
    """

    salt = models.CharField(max_length=32, default="")  # only for legacy codes

    class Meta(Device.Meta):
        verbose_name = "backup code device"

    def get_throttle_factor(self):
        return getattr(settings, "OTP_BACKUP_THROTTLE_FACTOR", 1)

    def legacy_hash(self, code: str) -> str:
        return hashlib.sha256(f"{self.salt}:{normalize_backup_code(code)}".encode()).hexdigest()

    def generate_codes(self) -> list[str]:
        """Replace every code with a fresh set; returns the plain codes (shown once)."""
        hasher = BackupCodeHasher()
        codes = ["".join(secrets.choice(BACKUP_CODE_ALPHABET) for _ in range(BACKUP_CODE_LENGTH))
                 for _ in range(BACKUP_CODE_COUNT)]
        rows = [BackupCode(device=self, index=i, code_hash=hasher.encode(c, hasher.salt()))
                for i, c in enumerate(codes)]
        with transaction.atomic():
            self.codes.all().delete()
            BackupCode.objects.bulk_create(rows)
        return [f"{i}-{c[:5]}-{c[5:10]}-{c[10:]}" for i, c in enumerate(codes)]

    def remaining(self) -> int:
        return self.codes.filter(used_at__isnull=True).count()

    def _matching_code(self, token: str):
        """The unused code row ``token`` names, checked with one hash; or None."""
        if len(token) == 1 + BACKUP_CODE_LENGTH and token[0].isdigit():
            row = self.codes.filter(index=int(token[0]), used_at__isnull=True).first()
            if row is not None and BackupCodeHasher().verify(token[1:], row.code_hash):
                return row
            return None
        if len(token) == LEGACY_CODE_LENGTH:
            candidate = self.legacy_hash(token)
            for row in self.codes.filter(index__isnull=True, used_at__isnull=True):
                if hmac.compare_digest(row.code_hash, candidate):
                    return row
        return None

    def verify_token(self, token) -> bool:
        allowed, _ = self.verify_is_allowed()
        if not allowed:
            return False
        code = self._matching_code(normalize_backup_code(token))
        # The conditional update is the atomic "use once".
        matched = code is not None and bool(
            BackupCode.objects.filter(pk=code.pk, used_at__isnull=True)
            .update(used_at=timezone.now()))
        if matched:
            self.throttle_reset(commit=False)
            self.set_last_used_timestamp(commit=False)
            self.save()
        else:
            self.throttle_increment(commit=True)
        return matched


class BackupCode(models.Model):
    device = models.ForeignKey(BackupCodeDevice, on_delete=models.CASCADE, related_name="codes")
    # Position in the user's list, the code's first character; None for legacy codes.
    index = models.PositiveSmallIntegerField(null=True, blank=True)
    code_hash = models.CharField(max_length=200)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"backup code {self.pk} ({'used' if self.used_at else 'unused'})"
