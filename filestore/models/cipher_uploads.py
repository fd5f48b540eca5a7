"""A version 2 (client-custody) tus upload: an age file the client encrypted itself.

The server holds no key for it and never will: it stores the bytes it is
sent, checks the age header's shape, the length and the SHA-256 of the whole
ciphertext (DESIGN.md §3 "Files", §6).
"""

import secrets
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone


def new_upload_id() -> str:
    """128 random bits as 32 lowercase hex digits (a uuid4 has only 122)."""
    return secrets.token_hex(16)


class CipherUploadQuerySet(models.QuerySet):
    def reserved_bytes(self, user, now=None) -> int:
        """Bytes counted against the uploader's quota: active and complete uploads."""
        now = now or timezone.now()
        live = self.filter(user=user).filter(
            models.Q(state=CipherUpload.State.COMPLETE)
            | models.Q(state=CipherUpload.State.UPLOADING, expires_at__gt=now))
        return int(live.aggregate(s=models.Sum("length"))["s"] or 0)

    def stale(self, now):
        """Incomplete uploads past their expiry (what the purge deletes)."""
        return self.filter(state=CipherUpload.State.UPLOADING, expires_at__lte=now)

    def unclaimed(self, now):
        """Complete uploads that no v2 message references, completed at least the upload
        expiry ago (SECURECHAT_UPLOAD_EXPIRY_SECONDS): the purge deletes them too."""
        cutoff = now - timedelta(seconds=settings.SECURECHAT_UPLOAD_EXPIRY_SECONDS)
        return self.filter(state=CipherUpload.State.COMPLETE, completed_at__lte=cutoff,
                           references__isnull=True)


class CipherUpload(models.Model):
    """One tus upload of a client-made age file; ``offset``: the bytes synced and recorded.

    ``header_len`` is set once the age header has arrived and passed the check;
    ``sha256`` once the last byte has arrived and the length checked. The blob
    lives at ``blob_name`` under MEDIA_ROOT. ``lease_owner``/``lease_expires``
    only keep PATCHes one at a time (423): nonce safety is the client's duty.
    """

    class State(models.TextChoices):
        UPLOADING = "uploading"
        COMPLETE = "complete"

    id = models.CharField(primary_key=True, max_length=32, default=new_upload_id,
                          editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="cipher_uploads")
    length = models.BigIntegerField(help_text="age file length (Upload-Length)")
    offset = models.BigIntegerField(default=0, help_text="bytes synced and recorded")
    header_len = models.IntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True, help_text="of the whole age file")
    blob_name = models.CharField(max_length=200, unique=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.UPLOADING)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=120, blank=True)
    lease_expires = models.DateTimeField(null=True, blank=True)

    objects = CipherUploadQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["state", "expires_at"])]

    def __str__(self):
        return f"ciphertext upload {self.pk} ({self.state})"

    def is_expired(self, now=None) -> bool:
        return self.state == self.State.UPLOADING and self.expires_at <= (now or timezone.now())
