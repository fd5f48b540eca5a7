"""Key fingerprints: how membership operations, epochs and pin blobs name a key generation.

    recipient_hash = SHA-256(ascii(age_recipient))      # canonical recipient string
    ed25519_hash   = SHA-256(ed25519_pub(32))

A key generation's public keys are an :class:`client.endorsement.Endorsed`
(user id, generation, recipient, Ed25519 key); this module only hashes them.
Fingerprints of "no key" are 32 zero bytes each (:data:`NONE`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from .endorsement import Endorsed
from .errors import UsageError

__all__ = ["NONE", "Fingerprints", "of"]


@dataclass(frozen=True)
class Fingerprints:
    """SHA-256 of the age recipient string and SHA-256 of the raw Ed25519 public key."""

    recipient_hash: bytes
    ed25519_hash: bytes

    def __post_init__(self) -> None:
        for value in (self.recipient_hash, self.ed25519_hash):
            if not isinstance(value, bytes) or len(value) != 32:
                raise UsageError("a fingerprint is 32 bytes")

    def is_none(self) -> bool:
        return self == NONE


NONE = Fingerprints(bytes(32), bytes(32))


def of(keys: Endorsed) -> Fingerprints:
    """The fingerprints of one key generation's public keys."""
    if not isinstance(keys, Endorsed):
        raise UsageError("fingerprints are taken of an Endorsed key record")
    return Fingerprints(
        hashlib.sha256(keys.recipient.encode("ascii")).digest(),
        hashlib.sha256(bytes(keys.ed25519)).digest(),
    )
