"""Public key directory rows and the wrapped secret identity."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.identity import fingerprint


class KeyGenerationQuerySet(models.QuerySet):
    def current(self):
        return self.filter(retired_at__isnull=True)

    def current_for(self, user) -> "KeyGeneration":
        return self.current().get(user=user)


class KeyGeneration(models.Model):
    """One generation of a user's public keys: the directory entry contacts encrypt to.

    ``endorsement`` is the previous generation's Ed25519 signature over the new
    keys (docs/protocol.md §11); it is empty for the first
    generation and for a reset without the recovery code, which contacts see as
    an unverified key change.
    """

    KEY_TYPES = [("hybrid", "ML-KEM-768 + X25519 (post-quantum)"), ("x25519", "X25519")]

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="key_generations")
    number = models.PositiveIntegerField()
    key_type = models.CharField(max_length=16, choices=KEY_TYPES)
    recipient = models.TextField(help_text="age recipient (age1… or age1pq1…)")
    signing_public_key = models.BinaryField(max_length=32)
    endorsement = models.BinaryField(max_length=64, null=True, blank=True)
    # Version 2 rotations are endorsed both ways (DESIGN.md §3, protocol.md §11):
    # ``endorsement`` is the previous generation's signature over this generation's
    # statement, ``endorsement_back`` this generation's signature over the previous one's.
    endorsement_back = models.BinaryField(max_length=64, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    retired_at = models.DateTimeField(null=True, blank=True)

    objects = KeyGenerationQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "number"],
                                    name="accounts_keygen_unique_number"),
            models.UniqueConstraint(fields=["user"], condition=models.Q(retired_at__isnull=True),
                                    name="accounts_keygen_one_current"),
        ]
        ordering = ["user_id", "-number"]

    def __str__(self):
        return f"key generation {self.number} of user {self.user_id}"

    @property
    def directory_fingerprint(self) -> str:
        """Fingerprint of these directory rows; not verified (the rows could be edited)."""
        return fingerprint(self.recipient, bytes(self.signing_public_key))

    @property
    def endorsed(self) -> bool:
        return bool(self.endorsement)


class WrappedIdentity(models.Model):
    """The user's identity file, only ever stored as two age files.

    ``password_blob``: one scrypt stanza under the password (what an export
    hands out). ``recovery_blob``: encrypted to ``recovery_recipient``, whose
    secret is the recovery code shown once to the user.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                primary_key=True, related_name="wrapped_identity")
    password_blob = models.BinaryField()
    recovery_blob = models.BinaryField()
    recovery_recipient = models.TextField()
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"wrapped identity of user {self.user_id}"
