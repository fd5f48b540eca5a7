"""Contacts' keys pinned on first use, per user (DESIGN.md §3)."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class ContactPins(models.Model):
    """The user's pins as one age file encrypted to them and signed by them.

    ``blob`` decrypts to JSON ``{contact_user_id: {"generation", "fingerprint",
    "signing_key", "known": {generation: fingerprint}, "notice"?}}``;
    ``signature`` is the user's Ed25519 signature (generation
    ``signer_generation``) over the blob (messaging.pins). Anyone who edits
    the row can only break it, which raises the key-change notice for every
    contact; they cannot forge pins.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                primary_key=True, related_name="contact_pins")
    blob = models.BinaryField()
    signature = models.BinaryField(max_length=64)
    signer_generation = models.PositiveIntegerField()
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"contact pins of user {self.user_id}"
