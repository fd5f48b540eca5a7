"""Message signatures (DESIGN.md §3): what is signed, and the age-file digest it binds.

The signed message is a domain tag followed by length-prefixed fields (4-byte
big-endian length, then the bytes):

    "securechat-message-v1", message UUID (16 bytes), conversation id, seq,
    sender id, sender key generation, kind, the number of recipients, each
    recipient fingerprint (sorted), sent_at in milliseconds, SHA-256 of the
    body's age header + 16-byte payload nonce, and for files SHA-256 of the
    whole metadata blob, the file size and the file digest (SHA-256 of the
    stored file's age header + payload nonce).

Integers are decimal ASCII. The payload of an age file is bound to its header
and nonce by its AEAD, so the digest of those covers the whole body.
"""

from __future__ import annotations

import hashlib
import io
import uuid
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agecrypt._io import Source
from agecrypt.errors import AgeError
from agecrypt.header import parse_header

DOMAIN = b"securechat-message-v1"
NONCE_SIZE = 16


class BodyFormatError(ValueError):
    """The bytes are not a binary age file with a complete header and nonce."""


def age_prefix_digest(age_file: bytes) -> bytes:
    """SHA-256 of an age file's header (MAC line included) and its 16-byte payload nonce."""
    try:
        header = parse_header(Source(io.BytesIO(age_file)))
    except AgeError:
        raise BodyFormatError("not an age file") from None
    end = len(header.raw) + NONCE_SIZE
    if len(age_file) < end:
        raise BodyFormatError("age file shorter than its nonce")
    return hashlib.sha256(age_file[:end]).digest()


@dataclass(frozen=True)
class SignedFields:
    message_id: uuid.UUID
    conversation_id: int
    seq: int
    sender_id: int
    sender_generation: int
    kind: str
    recipient_fingerprints: tuple[str, ...]
    sent_at_ms: int
    body_digest: bytes
    metadata_digest: bytes | None = None
    file_size: int | None = None
    file_digest: bytes | None = None

    def message(self) -> bytes:
        fields = [
            DOMAIN,
            self.message_id.bytes,
            str(self.conversation_id).encode(),
            str(self.seq).encode(),
            str(self.sender_id).encode(),
            str(self.sender_generation).encode(),
            self.kind.encode(),
            str(len(self.recipient_fingerprints)).encode(),
            *(fp.encode() for fp in sorted(self.recipient_fingerprints)),
            str(self.sent_at_ms).encode(),
            self.body_digest,
        ]
        if self.kind == "file":
            fields += [
                self.metadata_digest or b"",
                str(self.file_size if self.file_size is not None else -1).encode(),
                self.file_digest or b"",
            ]
        return b"".join(len(f).to_bytes(4, "big") + f for f in fields)


def fields_of(message, body: bytes | None = None) -> SignedFields:
    """The signed fields of a stored (or about to be stored) Message."""
    body = bytes(message.body if body is None else body)
    is_file = message.kind == "file"
    return SignedFields(
        message_id=message.id if isinstance(message.id, uuid.UUID) else uuid.UUID(str(message.id)),
        conversation_id=message.conversation_id,
        seq=message.seq,
        sender_id=message.sender_id,
        sender_generation=message.sender_generation,
        kind=message.kind,
        recipient_fingerprints=tuple(message.recipient_fingerprints),
        sent_at_ms=message.sent_at_ms,
        body_digest=age_prefix_digest(body),
        metadata_digest=hashlib.sha256(body).digest() if is_file else None,
        file_size=message.file_size if is_file else None,
        file_digest=bytes(message.file_digest) if is_file and message.file_digest else None,
    )


def sign(signing_key, fields: SignedFields) -> bytes:
    return signing_key.sign(fields.message())


def verify(public_key_bytes: bytes, signature: bytes | None, fields: SignedFields) -> bool:
    if not signature or len(signature) != 64 or len(public_key_bytes) != 32:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(bytes(public_key_bytes)).verify(
            bytes(signature), fields.message())
    except (InvalidSignature, ValueError):
        return False
    return True
