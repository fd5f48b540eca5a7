"""Version 2: what the server keeps to check a password it never receives (DESIGN.md §3).

The client derives ``auth_key`` from the password (scrypt over a salt bound to
the address and ``account_salt``, then HKDF); the server stores only
``HMAC-SHA256(AUTH_PEPPER, auth_key)``, with the pepper outside the database.
An Argon2 layer would add nothing: the wrapped identity stored beside it is an
equally cheap oracle for a guessed password.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.addresses import MAX_STORED_LENGTH


class ClientAuth(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                primary_key=True, related_name="client_auth")
    # HMAC(PRELOGIN_KEY, address)[:16] when the account was made (or its address changed),
    # kept so that existing accounts no longer depend on PRELOGIN_KEY.
    account_salt = models.BinaryField(max_length=16)
    work_factor = models.PositiveSmallIntegerField()
    auth_hash = models.BinaryField(max_length=32)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"client auth of user {self.user_id}"


class PendingEmailKeys(models.Model):
    """An email change waiting for its link (DESIGN.md §3, protocol.md §27).

    The account salt is the HMAC of the normalised address and the client's derivation
    binds the address too, so a new address needs a new auth key and a new wrapping of
    the identity. The client makes them during the change's step-up (same password);
    they wait here and replace ``ClientAuth`` and ``WrappedIdentity.password_blob`` in
    one transaction when the emailed link is confirmed. ``based_on`` fingerprints the
    auth hash and wrapped identity they were made against: if either changed meanwhile
    (password change, rotation, reset), applying them would undo that change, so the
    link is refused instead.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                primary_key=True, related_name="pending_email_keys")
    email = models.EmailField(max_length=MAX_STORED_LENGTH)
    account_salt = models.BinaryField(max_length=16)
    work_factor = models.PositiveSmallIntegerField()
    auth_hash = models.BinaryField(max_length=32)
    password_blob = models.BinaryField()
    based_on = models.BinaryField(max_length=32)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"pending email keys of user {self.user_id}"
