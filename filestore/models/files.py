"""A finished file: the age blob behind a file message."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class StoredFileQuerySet(models.QuerySet):
    def bytes_used_by(self, user) -> int:
        total = (self.filter(uploader=user, state=StoredFile.State.STORED)
                 .aggregate(s=models.Sum("size"))["s"])
        return int(total or 0)


class StoredFile(models.Model):
    """The encrypted blob of one file message. ``size`` (plaintext) is in the clear.

    The name and type live only in the message's encrypted metadata blob.
    """

    class State(models.TextChoices):
        STORED = "stored"
        DELETED = "deleted"

    message = models.OneToOneField("messaging.Message", on_delete=models.CASCADE,
                                   related_name="stored_file")
    uploader = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                 null=True, related_name="stored_files")
    blob_name = models.CharField(max_length=200, unique=True)
    size = models.BigIntegerField(help_text="plaintext size")
    ciphertext_size = models.BigIntegerField()
    file_digest = models.BinaryField(max_length=32, help_text="SHA-256 of age header + nonce")
    state = models.CharField(max_length=16, choices=State.choices, default=State.STORED)
    created_at = models.DateTimeField(default=timezone.now)

    objects = StoredFileQuerySet.as_manager()

    def __str__(self):
        return f"stored file of message {self.message_id}"
