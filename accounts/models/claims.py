"""A signup waiting to take over an unverified registration of the same address."""

from django.db import models
from django.utils import timezone

from accounts.addresses import MAX_STORED_LENGTH


class PendingClaim(models.Model):
    """Everything a signup made, held until its link is confirmed (``do_claim_registration``).

    Everything came from the client (version 2): the wrapped identity, its
    recovery copy, the public keys and the auth-key hash with the salt and work
    factor it was derived with; the link's token only as its SHA-256. Nothing
    here is a secret the account's rows would not hold.
    """

    email = models.EmailField(max_length=MAX_STORED_LENGTH, db_index=True)
    token_hash = models.CharField(max_length=64, unique=True)
    account_salt = models.BinaryField(max_length=16)
    work_factor = models.PositiveSmallIntegerField()
    auth_hash = models.BinaryField(max_length=32)
    password_blob = models.BinaryField()
    recovery_blob = models.BinaryField()
    key_type = models.CharField(max_length=16)
    generation = models.PositiveIntegerField()
    recipient = models.TextField()
    signing_public_key = models.BinaryField(max_length=32)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"pending claim {self.pk}"
