"""A signup waiting to take over an unverified registration of the same address."""

from django.db import models
from django.utils import timezone

from accounts.addresses import MAX_STORED_LENGTH


class PendingClaim(models.Model):
    """Everything a signup made, held until its link is confirmed (``do_claim_registration``).

    The keys are already wrapped (under the password and to the recovery
    recipient); the password only as its Argon2 hash; the link's token only as
    its SHA-256. Nothing here is a secret the User row would not hold.
    """

    email = models.EmailField(max_length=MAX_STORED_LENGTH, db_index=True)
    token_hash = models.CharField(max_length=64, unique=True)
    password = models.CharField(max_length=128)
    password_blob = models.BinaryField()
    recovery_blob = models.BinaryField()
    recovery_recipient = models.TextField()
    key_type = models.CharField(max_length=16)
    generation = models.PositiveIntegerField()
    recipient = models.TextField()
    signing_public_key = models.BinaryField(max_length=32)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"pending claim {self.pk}"
