"""Blocks between users (DESIGN.md §5): account metadata, no key involved."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


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
