"""Version 2 (end-to-end) conversations: membership chain, epochs and ciphertext messages.

The only conversations since the cutover (DESIGN.md §3, §5; docs/protocol.md §9–§16).
The server stores what clients signed and never opens it: statements and
signatures as the client sent them, envelopes and message boxes as opaque
bytes. ``ConversationV2.last_seq`` is the one seq counter of a conversation's
timeline, shared by membership operations, epoch announcements and messages;
it is read and bumped inside the inserting transaction under the row lock
(PostgreSQL) or the database write lock (SQLite IMMEDIATE), so seqs are
gap-free and each seq names exactly one item of the three tables.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone


class ConversationV2(models.Model):
    """A conversation named by the 128-bit id its creator's client drew (32 hex digits).

    ``head`` and ``head_index`` cache the chain head (the hash and index of the
    last operation) for the compare-and-swap; ``epoch_number`` and
    ``epoch_hash`` cache the current (highest) epoch, which a send must name.
    """

    DIRECT, GROUP = "direct", "group"
    KINDS = [(DIRECT, "direct"), (GROUP, "group")]

    id = models.CharField(primary_key=True, max_length=32)
    kind = models.CharField(max_length=8, choices=KINDS)
    member_limit = models.PositiveIntegerField(default=100)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    last_seq = models.PositiveBigIntegerField(default=0)
    head = models.BinaryField(max_length=32)
    head_index = models.PositiveBigIntegerField(default=0)
    epoch_number = models.PositiveBigIntegerField(default=0)
    epoch_hash = models.BinaryField(max_length=32, default=bytes(32))
    last_activity_at = models.DateTimeField(default=timezone.now)
    # Set by the chain's `set-expiry` operation (0 = messages do not expire): the purge
    # tombstones messages older than this, counted from their server time.
    expiry_seconds = models.PositiveBigIntegerField(default=0, db_default=0)
    # A direct conversation's pair as named at creation ("<low id>:<high id>": the creator
    # and the peer it named); unique, so starting it again finds the existing one.
    direct_key = models.CharField(max_length=50, null=True, blank=True, unique=True)

    class Meta:
        ordering = ["-last_activity_at"]
        verbose_name = "conversation (v2)"

    def __str__(self):
        return f"v2 conversation {self.id}"


class MemberV2(models.Model):
    """A current member as the chain says (create and add put in; remove and leave take out).

    Derived from the operations the server accepted, for access checks and
    pushes only; clients judge membership from the chain itself.
    """

    conversation = models.ForeignKey(ConversationV2, on_delete=models.CASCADE,
                                     related_name="members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="v2_memberships")
    joined_seq = models.PositiveBigIntegerField()
    # Whether the chain makes this member an admin (create, grant-admin; revoke-admin and
    # leave end it): the server refuses other members' admin operations as well as clients.
    is_admin = models.BooleanField(default=False, db_default=False)
    # Read position (metadata the server sees): the highest seq this member has read.
    last_read_seq = models.PositiveBigIntegerField(default=0, db_default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["conversation", "user"],
                                               name="messaging_memberv2_unique")]

    def __str__(self):
        return f"user {self.user_id} in v2 conversation {self.conversation_id}"


class MembershipOperation(models.Model):
    """One signed operation of the chain (protocol.md §15), in index order."""

    conversation = models.ForeignKey(ConversationV2, on_delete=models.CASCADE,
                                     related_name="operations")
    index = models.PositiveBigIntegerField()
    prev_hash = models.BinaryField(max_length=32)
    op_hash = models.BinaryField(max_length=32)
    kind = models.CharField(max_length=16)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                              related_name="+")
    statement = models.BinaryField()
    signature = models.BinaryField(max_length=64)
    seq = models.PositiveBigIntegerField()
    server_time = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["conversation_id", "index"]
        constraints = [
            models.UniqueConstraint(fields=["conversation", "index"],
                                    name="messaging_op_unique_index"),
            models.UniqueConstraint(fields=["conversation", "seq"], name="messaging_op_unique_seq"),
        ]

    def __str__(self):
        return f"operation {self.index} ({self.kind}) of v2 conversation {self.conversation_id}"


class EpochV2(models.Model):
    """An epoch: its envelope (an age file) and the creator's signed statement (§16).

    The first envelope stored for a number wins (unique (conversation, number)).
    """

    conversation = models.ForeignKey(ConversationV2, on_delete=models.CASCADE,
                                     related_name="epochs")
    number = models.PositiveBigIntegerField()
    envelope = models.BinaryField()
    envelope_hash = models.BinaryField(max_length=32)
    statement = models.BinaryField()
    signature = models.BinaryField(max_length=64)
    creator = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                related_name="+")
    seq = models.PositiveBigIntegerField()
    server_time = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["conversation_id", "number"]
        verbose_name = "epoch (v2)"
        constraints = [
            models.UniqueConstraint(fields=["conversation", "number"],
                                    name="messaging_epoch_unique_number"),
            models.UniqueConstraint(fields=["conversation", "seq"],
                                    name="messaging_epoch_unique_seq"),
        ]

    def __str__(self):
        return f"epoch {self.number} of v2 conversation {self.conversation_id}"


class MessageV2(models.Model):
    """A message box (≤ 48 KiB ciphertext) with the sender's signed statement (§9, §10).

    ``client_message_id`` (16 bytes, from the statement) is unique per
    (conversation, sender): a repeated send returns the stored row.
    """

    conversation = models.ForeignKey(ConversationV2, on_delete=models.CASCADE,
                                     related_name="messages")
    sender = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                               related_name="+")
    device_id = models.BinaryField(max_length=16)
    device_counter = models.PositiveBigIntegerField()
    client_message_id = models.BinaryField(max_length=16)
    epoch_number = models.PositiveBigIntegerField()
    box = models.BinaryField(max_length=49152)
    statement = models.BinaryField()
    signature = models.BinaryField(max_length=64)
    message_hash = models.BinaryField(max_length=32)
    seq = models.PositiveBigIntegerField()
    server_time = models.DateTimeField(default=timezone.now)
    # A tombstone (unsent by its sender, or expired) keeps seq, sender, time and the signed
    # statement (receivers follow the device chain through it); the box is emptied.
    removed_at = models.DateTimeField(null=True, blank=True)
    removed_reason = models.CharField(max_length=8, blank=True,
                                      choices=[("unsend", "unsent"), ("expiry", "expired")])

    class Meta:
        ordering = ["conversation_id", "seq"]
        verbose_name = "message (v2)"
        constraints = [
            models.UniqueConstraint(fields=["conversation", "sender", "client_message_id"],
                                    name="messaging_msgv2_unique_client_id"),
            models.UniqueConstraint(fields=["conversation", "seq"],
                                    name="messaging_msgv2_unique_seq"),
        ]

    def __str__(self):
        return f"message {self.seq} of v2 conversation {self.conversation_id}"


class ServerNoticeV2(models.Model):
    """A server announcement in the timeline, unsigned: ``removed`` says the account
    ``subject_id`` (deleted or deactivated) left the current members. Clients accept it on
    the server's word (removing a reader is safe); the next epoch must exclude it.

    ``subject_id`` is a plain integer: the account may be gone.
    """

    REMOVED = "removed"

    conversation = models.ForeignKey(ConversationV2, on_delete=models.CASCADE,
                                     related_name="notices")
    kind = models.CharField(max_length=16)
    subject_id = models.BigIntegerField()
    reason = models.CharField(max_length=16)  # "deleted" or "deactivated"
    seq = models.PositiveBigIntegerField()
    server_time = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["conversation_id", "seq"]
        verbose_name = "server notice (v2)"
        constraints = [
            models.UniqueConstraint(fields=["conversation", "seq"],
                                    name="messaging_noticev2_unique_seq"),
        ]

    def __str__(self):
        return f"notice {self.seq} ({self.kind}) of v2 conversation {self.conversation_id}"
