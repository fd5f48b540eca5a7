"""Version 2: the public key directory and the pin blob (DESIGN.md §3, §5).

The directory answers who has a verified account at an address and that
account's key generations. It is metadata signed-in users may see by design
(rate-limited per user); unknown and unverified addresses get the same 404
after the same work. Clients never trust these rows on their own: they pin
keys, follow endorsements and compare safety numbers.

The pin blob is stored as the client made it, by compare-and-swap: a write
names the version it creates, which must be exactly one more than the stored
one; otherwise 409 with the stored blob, so the client merges and retries.
"""

from __future__ import annotations

import base64

from django.db import transaction
from django.utils import timezone

from accounts.actions.base import rate_limit
from accounts.addresses import address_key
from accounts.errors import ApiError, NotFound
from accounts.models import KeyGeneration, PinBlob, User, WrappedIdentity
from accounts.models.pins import MAX_PIN_BLOB_BYTES


def lookup_directory(viewer, email) -> tuple[User, list[KeyGeneration]]:
    """The verified, active account at ``email`` and its generations (newest first), or 404.

    The viewer's own address answers even before it is verified: a client checks its own
    keys against the directory at every start, and learns nothing it does not know."""
    rate_limit("directory_account", viewer.pk)
    key = address_key(email)
    accounts = User.objects.filter(email=key, is_active=True)
    if key != viewer.email:
        accounts = accounts.filter(email_verified_at__isnull=False)
    user = accounts.first() if key is not None else None
    generations = list(KeyGeneration.objects.filter(user=user).order_by("-number")) \
        if user is not None else []
    if user is None or not generations:
        raise NotFound("No verified account has this address.")
    return user, generations


def current_generation(user) -> KeyGeneration | None:
    """The user's current key generation (the one the directory's fingerprint is of)."""
    return KeyGeneration.objects.current().filter(user=user).first()


def read_own_keys(user) -> tuple[WrappedIdentity, list[KeyGeneration]]:
    """The user's wrapped identity (with their client auth row) and every generation,
    newest first: what a client needs to open its keys and check them."""
    wrapped = WrappedIdentity.objects.select_related("user__client_auth").get(user=user)
    return wrapped, list(KeyGeneration.objects.filter(user=user).order_by("-number"))


def read_pins(user) -> PinBlob | None:
    return PinBlob.objects.filter(user=user).first()


class PinConflict(ApiError):
    """The write did not follow the stored version: merge with the stored blob and retry."""

    code = "version_conflict"
    status = 409


def check_pin_write(version, blob: bytes) -> int:
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version < 2**62:
        raise ApiError("version must be a positive integer.", field="version")
    if not blob or len(blob) > MAX_PIN_BLOB_BYTES:
        raise ApiError(f"The pin blob is 1 to {MAX_PIN_BLOB_BYTES} bytes.", field="blob")
    return version


def do_store_pins(user, version, blob: bytes) -> PinBlob:
    """Store ``blob`` as ``version`` if the stored one is ``version - 1`` (none counts as 0)."""
    check_pin_write(version, blob)
    with transaction.atomic():
        current = PinBlob.objects.select_for_update().filter(user=user).first()
        stored_version = current.version if current is not None else 0
        if version != stored_version + 1:
            raise PinConflict(f"The stored pins are version {stored_version}; merge and write "
                              f"version {stored_version + 1}.",
                              extra={"version": stored_version,
                                     "blob": base64.b64encode(bytes(current.blob)).decode()
                                     if current is not None else None})
        if current is None:
            return PinBlob.objects.create(user=user, version=version, blob=blob)
        current.version, current.blob, current.updated_at = version, blob, timezone.now()
        current.save(update_fields=["version", "blob", "updated_at"])
        return current
