"""X25519 recipients (``age1…``) and identities (``AGE-SECRET-KEY-1…``).

Stanza: ``-> X25519 <ephemeral share>`` with the file key wrapped under
HKDF-SHA256(ikm=shared secret, salt=share || recipient, info
"age-encryption.org/v1/X25519").
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from . import _rand
from .errors import HeaderError, KeyFormatError, RecipientError
from .header import Identity, Recipient, Stanza
from .primitives import (
    FILE_KEY_SIZE,
    aead_unwrap,
    aead_wrap,
    b64decode,
    b64encode,
    bech32_decode,
    bech32_encode,
    hkdf_sha256,
)

__all__ = ["X25519Identity", "X25519Recipient"]

_LABEL = b"age-encryption.org/v1/X25519"
_RECIPIENT_HRP = "age"
_IDENTITY_HRP = "AGE-SECRET-KEY-"


def _derive(shared: bytes, share: bytes, recipient: bytes) -> bytes:
    return hkdf_sha256(shared, share + recipient, _LABEL)


class X25519Recipient(Recipient):
    """An age X25519 public key."""

    __slots__ = ("_pub",)

    def __init__(self, public_key: bytes) -> None:
        if not isinstance(public_key, bytes | bytearray) or len(public_key) != 32:
            raise KeyFormatError("an X25519 public key is 32 bytes")
        self._pub = bytes(public_key)

    @classmethod
    def from_string(cls, s: str) -> X25519Recipient:
        """Parse ``age1…`` (lowercase Bech32, checksum verified)."""
        hrp, data = bech32_decode(s)
        if hrp != _RECIPIENT_HRP:
            raise KeyFormatError("not an age X25519 recipient (expected 'age1…')")
        return cls(data)

    def to_bytes(self) -> bytes:
        return self._pub

    def __str__(self) -> str:
        return bech32_encode(_RECIPIENT_HRP, self._pub)

    def __repr__(self) -> str:
        return f"X25519Recipient({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, X25519Recipient) and other._pub == self._pub

    def __hash__(self) -> int:
        return hash((X25519Recipient, self._pub))

    def _wrap(self, file_key: bytes) -> list[Stanza]:
        eph = X25519PrivateKey.from_private_bytes(_rand._random_bytes(32))
        share = eph.public_key().public_bytes_raw()
        try:
            shared = eph.exchange(X25519PublicKey.from_public_bytes(self._pub))
        except ValueError:
            raise RecipientError("X25519 recipient is a low-order point") from None
        key = _derive(shared, share, self._pub)
        return [Stanza("X25519", (b64encode(share),), aead_wrap(key, file_key))]


class X25519Identity(Identity):
    """An age X25519 secret key."""

    __slots__ = ("_sk", "_pub")

    def __init__(self, secret_key: bytes) -> None:
        if not isinstance(secret_key, bytes | bytearray) or len(secret_key) != 32:
            raise KeyFormatError("an X25519 secret key is 32 bytes")
        self._sk = X25519PrivateKey.from_private_bytes(bytes(secret_key))
        self._pub = self._sk.public_key().public_bytes_raw()

    @classmethod
    def generate(cls) -> X25519Identity:
        return cls(_rand._random_bytes(32))

    @classmethod
    def from_seed(cls, seed: bytes) -> X25519Identity:
        """Deterministic identity from 32 secret bytes (the X25519 scalar itself)."""
        return cls(seed)

    from_bytes = from_seed

    @classmethod
    def from_string(cls, s: str) -> X25519Identity:
        """Parse ``AGE-SECRET-KEY-1…`` (uppercase Bech32, checksum verified)."""
        hrp, data = bech32_decode(s)
        if hrp != _IDENTITY_HRP:
            raise KeyFormatError("not an age X25519 identity (expected 'AGE-SECRET-KEY-1…')")
        return cls(data)

    def recipient(self) -> X25519Recipient:
        return X25519Recipient(self._pub)

    def __str__(self) -> str:
        return bech32_encode(_IDENTITY_HRP, self._sk.private_bytes_raw()).upper()

    def __repr__(self) -> str:  # never the secret
        return f"<X25519Identity for {self.recipient()}>"

    def _unwrap_stanza(self, stanza: Stanza) -> bytes | None:
        if stanza.type != "X25519":
            return None
        if len(stanza.args) != 1:
            raise HeaderError("invalid X25519 stanza: wrong number of arguments")
        try:
            share = b64decode(stanza.args[0])
        except ValueError:
            raise HeaderError("invalid X25519 stanza: bad share encoding") from None
        if len(share) != 32:
            raise HeaderError("invalid X25519 stanza: share is not 32 bytes")
        if len(stanza.body) != FILE_KEY_SIZE + 16:
            raise HeaderError("invalid X25519 stanza: wrapped file key has the wrong size")
        try:
            shared = self._sk.exchange(X25519PublicKey.from_public_bytes(share))
        except ValueError:
            raise HeaderError("invalid X25519 stanza: low-order share") from None
        return aead_unwrap(_derive(shared, share, self._pub), stanza.body)
