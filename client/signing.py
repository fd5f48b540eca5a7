"""Ed25519 signatures over statements (shared by messages and endorsements).

Keys travel as raw bytes: a 32-byte public key, a 32-byte private seed, a
64-byte signature (RFC 8032; deterministic, so vectors are reproducible).
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import SignatureError, UsageError

__all__ = ["public_key_bytes", "sign", "signing_key_from_seed", "verify"]


def signing_key_from_seed(seed: bytes) -> Ed25519PrivateKey:
    """The Ed25519 private key whose RFC 8032 seed is ``seed`` (32 bytes)."""
    if not isinstance(seed, bytes | bytearray) or len(seed) != 32:
        raise UsageError("an Ed25519 seed is 32 bytes")
    return Ed25519PrivateKey.from_private_bytes(bytes(seed))


def public_key_bytes(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes_raw()


def sign(key: Ed25519PrivateKey, statement: bytes) -> bytes:
    """The 64-byte Ed25519 signature of ``statement``."""
    if not isinstance(key, Ed25519PrivateKey):
        raise UsageError("signing needs an Ed25519 private key")
    return key.sign(bytes(statement))


def verify(public_key: bytes, statement: bytes, signature: bytes) -> None:
    """Return only if ``signature`` is ``public_key``'s signature of ``statement``.

    Raises :class:`SignatureError` for a bad signature and for a key or
    signature of the wrong size (all untrusted input).
    """
    if not isinstance(public_key, bytes | bytearray) or len(public_key) != 32:
        raise SignatureError("an Ed25519 public key is 32 bytes")
    if not isinstance(signature, bytes | bytearray) or len(signature) != 64:
        raise SignatureError("an Ed25519 signature is 64 bytes")
    if not isinstance(statement, bytes | bytearray):
        raise SignatureError("a signed statement is bytes")
    try:
        key = Ed25519PublicKey.from_public_bytes(bytes(public_key))
        key.verify(bytes(signature), bytes(statement))
    except (InvalidSignature, ValueError):
        raise SignatureError("signature does not verify") from None
