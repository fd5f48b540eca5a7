"""Post-quantum hybrid recipients (``age1pq1…``) and identities (``AGE-SECRET-KEY-PQ-1…``).

As defined by age 1.3 / C2SP age: HPKE (RFC 9180, base mode) with the
MLKEM768-X25519 KEM, HKDF-SHA256 and ChaCha20-Poly1305, info
``"age-encryption.org/mlkem768x25519"``, sealing the 16-byte file key::

    -> mlkem768x25519 <base64 enc (1120 bytes: ML-KEM ciphertext || X25519 share)>
    <base64 sealed file key (32 bytes)>

The identity is a 32-byte seed expanded as the HPKE-PQ draft / X-Wing do:
``SHAKE256(seed, 96)`` → 64-byte ML-KEM-768 seed (d || z) and 32-byte X25519
secret. The recipient encoding is the ML-KEM-768 encapsulation key (1184
bytes) followed by the X25519 public key (32 bytes).

Randomness: ``cryptography``'s HPKE encapsulation draws its randomness inside
OpenSSL and cannot take it from :mod:`agecrypt._rand`, so hybrid stanzas are
not reproducible under ``_rand.replay``. Key *generation* does use the seam.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PrivateKey, MLKEM768PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from . import _rand
from .errors import HeaderError, KeyFormatError, RecipientError
from .header import Identity, Recipient, Stanza
from .primitives import (
    FILE_KEY_SIZE,
    b64decode,
    b64encode,
    bech32_decode,
    bech32_encode,
    shake256,
)

__all__ = ["HybridIdentity", "HybridRecipient"]

_LABEL = b"age-encryption.org/mlkem768x25519"
_TYPE = "mlkem768x25519"
_RECIPIENT_HRP = "age1pq"
_IDENTITY_HRP = "AGE-SECRET-KEY-PQ-"
_MLKEM_PK = 1184
_MLKEM_CT = 1088
_PK_SIZE = _MLKEM_PK + 32
_ENC_SIZE = _MLKEM_CT + 32
_SUITE = hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)


class HybridRecipient(Recipient):
    """An age ``mlkem768x25519`` public key. Cannot be mixed with classic recipients."""

    __slots__ = ("_raw", "_pk")
    _labels = frozenset({"postquantum"})

    def __init__(self, public_key: bytes) -> None:
        if not isinstance(public_key, bytes | bytearray) or len(public_key) != _PK_SIZE:
            raise KeyFormatError("an MLKEM768-X25519 public key is 1216 bytes")
        raw = bytes(public_key)
        try:
            mlkem = MLKEM768PublicKey.from_public_bytes(raw[:_MLKEM_PK])
            x = X25519PublicKey.from_public_bytes(raw[_MLKEM_PK:])
        except ValueError:
            raise KeyFormatError("invalid MLKEM768-X25519 public key") from None
        self._raw = raw
        self._pk = hpke.MLKEM768X25519PublicKey(mlkem, x)

    @classmethod
    def from_string(cls, s: str) -> HybridRecipient:
        """Parse ``age1pq1…`` (lowercase Bech32, checksum verified)."""
        hrp, data = bech32_decode(s)
        if hrp != _RECIPIENT_HRP:
            raise KeyFormatError("not an age hybrid recipient (expected 'age1pq1…')")
        return cls(data)

    def to_bytes(self) -> bytes:
        return self._raw

    def __str__(self) -> str:
        return bech32_encode(_RECIPIENT_HRP, self._raw)

    def __repr__(self) -> str:
        s = str(self)
        return f"HybridRecipient('{s[:16]}…{s[-8:]}')"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HybridRecipient) and other._raw == self._raw

    def __hash__(self) -> int:
        return hash((HybridRecipient, self._raw))

    def _wrap(self, file_key: bytes) -> list[Stanza]:
        try:
            sealed = _SUITE.encrypt(file_key, self._pk, info=_LABEL)
        except ValueError:
            raise RecipientError("HPKE encapsulation to the hybrid recipient failed") from None
        enc, body = sealed[:_ENC_SIZE], sealed[_ENC_SIZE:]
        return [Stanza(_TYPE, (b64encode(enc),), body)]


class HybridIdentity(Identity):
    """An age ``mlkem768x25519`` secret key, stored as its 32-byte seed."""

    __slots__ = ("_seed", "_xsk", "_sk", "_pub")

    def __init__(self, seed: bytes) -> None:
        if not isinstance(seed, bytes | bytearray) or len(seed) != 32:
            raise KeyFormatError("a hybrid identity seed is 32 bytes")
        self._seed = bytes(seed)
        expanded = shake256(self._seed, 96)
        mlkem = MLKEM768PrivateKey.from_seed_bytes(expanded[:64])
        self._xsk = X25519PrivateKey.from_private_bytes(expanded[64:])
        self._sk = hpke.MLKEM768X25519PrivateKey(mlkem, self._xsk)
        self._pub = (
            mlkem.public_key().public_bytes_raw() + self._xsk.public_key().public_bytes_raw()
        )

    @classmethod
    def generate(cls) -> HybridIdentity:
        return cls(_rand._random_bytes(32))

    @classmethod
    def from_seed(cls, seed: bytes) -> HybridIdentity:
        """Deterministic identity from a 32-byte seed (what ``AGE-SECRET-KEY-PQ-1…`` encodes)."""
        return cls(seed)

    from_bytes = from_seed

    @classmethod
    def from_string(cls, s: str) -> HybridIdentity:
        """Parse ``AGE-SECRET-KEY-PQ-1…`` (uppercase Bech32, checksum verified)."""
        hrp, data = bech32_decode(s)
        if hrp != _IDENTITY_HRP:
            raise KeyFormatError("not an age hybrid identity (expected 'AGE-SECRET-KEY-PQ-1…')")
        return cls(data)

    def recipient(self) -> HybridRecipient:
        return HybridRecipient(self._pub)

    def __str__(self) -> str:
        return bech32_encode(_IDENTITY_HRP, self._seed).upper()

    def __repr__(self) -> str:  # never the secret
        return f"<HybridIdentity for {self.recipient()!r}>"

    def _unwrap_stanza(self, stanza: Stanza) -> bytes | None:
        if stanza.type != _TYPE:
            return None
        if len(stanza.args) != 1:
            raise HeaderError("invalid mlkem768x25519 stanza: wrong number of arguments")
        try:
            enc = b64decode(stanza.args[0])
        except ValueError:
            raise HeaderError("invalid mlkem768x25519 stanza: bad enc encoding") from None
        if len(enc) != _ENC_SIZE:
            raise HeaderError("invalid mlkem768x25519 stanza: enc has the wrong size")
        if len(stanza.body) != FILE_KEY_SIZE + 16:
            raise HeaderError("invalid mlkem768x25519 stanza: sealed file key has the wrong size")
        # HPKE's X25519 DH must not yield the all-zero secret (low-order share): that is
        # a malformed stanza, not a mismatch. ML-KEM uses implicit rejection, so a
        # corrupted ML-KEM ciphertext only shows up as a failed open below (no match).
        try:
            self._xsk.exchange(X25519PublicKey.from_public_bytes(enc[_MLKEM_CT:]))
        except ValueError:
            raise HeaderError("invalid mlkem768x25519 stanza: low-order X25519 share") from None
        try:
            return _SUITE.decrypt(enc + stanza.body, self._sk, info=_LABEL)
        except InvalidTag:  # wrong key (ML-KEM rejects implicitly) or tampered: not for us
            return None
