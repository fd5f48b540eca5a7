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
