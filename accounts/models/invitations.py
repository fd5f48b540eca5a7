"""Invitations for invite-only registration; only a hash of the token is stored."""

import hashlib

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.addresses import MAX_STORED_LENGTH


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class InvitationQuerySet(models.QuerySet):
    def usable(self):
        return self.filter(used_at__isnull=True, revoked_at__isnull=True,
                           expires_at__gt=timezone.now())


class Invitation(models.Model):
    email = models.EmailField(max_length=MAX_STORED_LENGTH)  # normalised (accounts.addresses)
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    # Revoked by an operator (``manage.py invitations revoke``, the admin): never usable.
    revoked_at = models.DateTimeField(null=True, blank=True)
    # A staff invitation (``manage.py createadmin``): works in every registration mode and
    # makes its account staff and superuser once its authenticator app is confirmed.
    staff = models.BooleanField(default=False)

    objects = InvitationQuerySet.as_manager()

    def __str__(self):
        return f"invitation {self.pk}"

    @property
    def state(self) -> str:
        """"pending", "used", "revoked" or "expired"."""
        if self.used_at is not None:
            return "used"
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "pending"
