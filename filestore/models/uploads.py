"""A tus upload in progress: where its age file is, how much is committed, who writes it."""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from agecrypt import CHUNK_SIZE


class UploadQuerySet(models.QuerySet):
    def active(self, now=None):
        """Uploads still accepting data: not finished, not voided, not expired."""
        now = now or timezone.now()
        return self.filter(state=Upload.State.UPLOADING, expires_at__gt=now)

    def stale(self, now):
        """Incomplete uploads past their expiry, and voided ones (what the purge deletes)."""
        return self.filter(
            models.Q(state=Upload.State.UPLOADING, expires_at__lte=now)
            | models.Q(state=Upload.State.VOIDED)
        )

    def reserved_bytes(self, user, now=None) -> int:
        """Bytes reserved against the quota by the user's active uploads."""
        total = self.active(now).filter(user=user).aggregate(s=models.Sum("length"))["s"]
        return int(total or 0)


class Upload(models.Model):
    """One tus upload: an age file under MEDIA_ROOT written chunk by chunk.

    ``offset`` is the plaintext length committed (whole 64 KiB chunks, or the
    whole length once complete). ``inflight_start``/``inflight_end`` (chunk
    indexes, end exclusive) are recorded before chunks in that range are
    written and cleared when a PATCH ends cleanly; a non-null range found by
    the next request means the previous writer died, and the blob is verified
    before anything else happens (``filestore.storage.recover``).

    The file name, type and the raw ``Upload-Metadata`` header exist only
    inside ``metadata_blob``, an age file encrypted to the uploader.
    """

    class State(models.TextChoices):
        UPLOADING = "uploading"
        COMPLETE = "complete"
        VOIDED = "voided"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="uploads")
    conversation = models.ForeignKey("messaging.Conversation", on_delete=models.CASCADE,
                                     related_name="uploads")
    length = models.BigIntegerField(help_text="plaintext size (Upload-Length)")
    offset = models.BigIntegerField(default=0, help_text="plaintext bytes committed")
    blob_name = models.CharField(max_length=200, help_text="path under MEDIA_ROOT")
    metadata_blob = models.BinaryField(help_text="age file: name, type, raw Upload-Metadata")
    state = models.CharField(max_length=16, choices=State.choices, default=State.UPLOADING)
    void_reason = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=120, blank=True)
    lease_expires = models.DateTimeField(null=True, blank=True)
    inflight_start = models.BigIntegerField(null=True, blank=True)
    inflight_end = models.BigIntegerField(null=True, blank=True)
    message = models.OneToOneField("messaging.Message", on_delete=models.SET_NULL, null=True,
                                   blank=True, related_name="upload")

    objects = UploadQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["state", "expires_at"])]

    def __str__(self):
        return f"upload {self.pk} ({self.state})"

    @property
    def committed_chunks(self) -> int:
        """Chunks on disk and recorded (the final chunk counts once complete)."""
        if self.state == self.State.COMPLETE:
            return max(1, -(-self.length // CHUNK_SIZE))
        return self.offset // CHUNK_SIZE

    def is_expired(self, now=None) -> bool:
        return self.state == self.State.UPLOADING and self.expires_at <= (now or timezone.now())
