"""Conversations, their members and blocks between users (DESIGN.md §5)."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class ConversationQuerySet(models.QuerySet):
    def direct_key(self, user_a_id: int, user_b_id: int) -> str:
        low, high = sorted((int(user_a_id), int(user_b_id)))
        return f"{low}:{high}"


class Conversation(models.Model):
    """A conversation between members (two for a direct chat; groups are not excluded).

    ``last_seq`` is the seq counter: the send path reads and bumps it inside
    the inserting transaction while holding the row lock (PostgreSQL) or the
    database write lock (SQLite IMMEDIATE transactions), so seqs are gap-free.
    ``direct_key`` ("<low id>:<high id>") makes one direct conversation per pair.
    ``expiry_seconds``: messages older than this (from send time) are tombstoned.
    """

    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    direct_key = models.CharField(max_length=50, null=True, blank=True, unique=True)
    last_seq = models.PositiveBigIntegerField(default=0)
    last_activity_at = models.DateTimeField(default=timezone.now)
    expiry_seconds = models.PositiveIntegerField(null=True, blank=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership",
                                     related_name="conversations")

    objects = ConversationQuerySet.as_manager()

    class Meta:
        ordering = ["-last_activity_at"]

    def __str__(self):
        return f"conversation {self.pk}"


class MembershipQuerySet(models.QuerySet):
    def joined(self):
        return self.filter(state=Membership.JOINED)

    def listed_for(self, user):
        """The conversations a user sees in their list: joined and not deleted on their side."""
        return self.joined().filter(user=user, hidden=False)


class Membership(models.Model):
    """One member's state in a conversation.

    - ``state``: joined or left (a left member keeps history up to ``left_seq``
      and gets nothing newer; restarting the direct conversation re-joins).
    - ``hidden`` / ``hidden_before_seq``: "deleted on my side": the history up to
      that seq is hidden for this member; the next message shows the
      conversation again.
    - ``last_read_seq``: read position (unread counts, read receipts).
    """

    JOINED = "joined"
    LEFT = "left"
    STATES = [(JOINED, "joined"), (LEFT, "left")]

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE,
                                     related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="memberships")
    state = models.CharField(max_length=8, choices=STATES, default=JOINED)
    joined_at = models.DateTimeField(default=timezone.now)
    left_seq = models.PositiveBigIntegerField(null=True, blank=True)
    hidden = models.BooleanField(default=False)
    hidden_before_seq = models.PositiveBigIntegerField(default=0)
    last_read_seq = models.PositiveBigIntegerField(default=0)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "user"],
                                    name="messaging_membership_unique"),
        ]

    def __str__(self):
        return f"member {self.user_id} of conversation {self.conversation_id}"

    @property
    def is_joined(self) -> bool:
        return self.state == self.JOINED

    def first_visible_seq(self) -> int:
        """Messages with a seq above this are visible (history deleted on my side is not)."""
        return self.hidden_before_seq

    def last_visible_seq(self, conversation_last_seq: int) -> int:
        if self.state == self.LEFT and self.left_seq is not None:
            return min(self.left_seq, conversation_last_seq)
        return conversation_last_seq


class BlockQuerySet(models.QuerySet):
    def between(self, user_a, user_b):
        a, b = getattr(user_a, "pk", user_a), getattr(user_b, "pk", user_b)
        return self.filter(Q(user_id=a, blocked_id=b) | Q(user_id=b, blocked_id=a))


class Block(models.Model):
    """``user`` blocked ``blocked``: neither can send to the other in a direct conversation."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="blocks")
    blocked = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                related_name="blocked_by")
    created_at = models.DateTimeField(default=timezone.now)

    objects = BlockQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "blocked"], name="messaging_block_unique"),
        ]

    def __str__(self):
        return f"user {self.user_id} blocks user {self.blocked_id}"
