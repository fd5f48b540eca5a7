"""Messages: an age file per message, signed, with a gap-free per-conversation seq."""

import uuid
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone


class MessageQuerySet(models.QuerySet):
    def visible_to(self, membership):
        """Messages of the member's conversation that this member may see, in seq order."""
        qs = self.filter(conversation_id=membership.conversation_id,
                         seq__gt=membership.first_visible_seq())
        if not membership.is_joined and membership.left_seq is not None:
            qs = qs.filter(seq__lte=membership.left_seq)
        # The conversation comes along: expiry is judged per row when rendering.
        return qs.select_related("conversation").order_by("seq")

    def alive(self):
        return self.filter(deleted_at__isnull=True)


class Message(models.Model):
    """One message. Content exists only as ``body``, an age file (DESIGN.md §3).

    - text: ``body`` holds ``{"v": 1, "text": …}``; file: ``body`` is the
      encrypted metadata ``{"v": 1, "name": …, "type": …}`` and ``file_size`` /
      ``file_digest`` (SHA-256 of the file's age header + payload nonce) bind
      the stored file, which filestore keeps under this message's id.
    - ``body`` is encrypted to the current recipients of every member (sender
      included); ``recipient_fingerprints`` (sorted) are those keys'
      fingerprints, covered by the Ed25519 ``signature`` of the sender's
      generation ``sender_generation`` (messaging.signing).
    - ``sent_at`` has millisecond precision (the signature covers it in ms).
    - A tombstone (unsent or expired) keeps id, seq, sender and time and has
      ``deleted_at`` set; body, signature and file digest are gone.
    """

    TEXT = "text"
    FILE = "file"
    KINDS = [(TEXT, "text"), (FILE, "file")]

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey("messaging.Conversation", on_delete=models.CASCADE,
                                     related_name="messages")
    seq = models.PositiveBigIntegerField()
    sender = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                               related_name="sent_messages")
    sender_generation = models.PositiveIntegerField()
    client_id = models.CharField(max_length=64)
    kind = models.CharField(max_length=4, choices=KINDS, default=TEXT)
    body = models.BinaryField(null=True)
    recipient_fingerprints = models.JSONField(default=list)
    sent_at = models.DateTimeField()
    signature = models.BinaryField(null=True, max_length=64)
    file_size = models.BigIntegerField(null=True, blank=True)
    file_digest = models.BinaryField(null=True, max_length=32)
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects = MessageQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "seq"],
                                    name="messaging_message_unique_seq"),
            models.UniqueConstraint(fields=["conversation", "sender", "client_id"],
                                    name="messaging_message_unique_client_id"),
        ]
        ordering = ["conversation_id", "seq"]

    def __str__(self):
        return f"message {self.seq} of conversation {self.conversation_id}"

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def sent_at_ms(self) -> int:
        return to_ms(self.sent_at)

    @property
    def is_expired(self) -> bool:
        """Past the conversation's expiry: shown as deleted even before the purge runs."""
        seconds = self.conversation.expiry_seconds
        return seconds is not None and self.sent_at <= timezone.now() - timedelta(seconds=seconds)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_ms(moment: datetime) -> int:
    """Milliseconds since the epoch, exactly (no float rounding)."""
    return (moment - EPOCH) // timedelta(milliseconds=1)


def truncate_to_ms(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
