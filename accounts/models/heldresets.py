"""Version 2: a password reset without the recovery code, held before it takes effect.

The client made a new identity (one new, unendorsed generation) and wrapped it
under the new password; the server keeps what it would publish until
``publish_at`` (``SECURECHAT_RESET_HOLD`` hours, DESIGN.md §4). Until then the
account is unchanged: existing sessions, the emailed cancel link and a cancel
signed by the current generation's key can cancel it. ``link_hash`` spends the
reset link; ``cancel_hash`` is SHA-256 of the emailed cancel token.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone


class HeldReset(models.Model):
    HELD, CANCELLED, PUBLISHED = "held", "cancelled", "published"
    STATES = [(HELD, "Held"), (CANCELLED, "Cancelled"), (PUBLISHED, "Published")]

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="held_resets")
    state = models.CharField(max_length=10, choices=STATES, default=HELD)
    generation = models.PositiveIntegerField()
    recipient = models.TextField()
    signing_public_key = models.BinaryField(max_length=32)
    auth_hash = models.BinaryField(max_length=32)
    work_factor = models.PositiveSmallIntegerField()
    password_blob = models.BinaryField()
    recovery_blob = models.BinaryField()
    link_hash = models.BinaryField(max_length=32, unique=True)
    cancel_hash = models.BinaryField(max_length=32, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    publish_at = models.DateTimeField(db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    finished_by = models.CharField(max_length=20, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user"], condition=models.Q(state="held"),
                                    name="accounts_one_held_reset"),
        ]

    def __str__(self):
        return f"held reset {self.pk} of user {self.user_id} ({self.state})"
