"""The file claim: which upload a version 2 file message names (protocol.md §20).

    file_claim = statement("securechat/v2/file-claim", conversation_id(16),
                           client_message_id(16), upload_id(16), u64 sender_id,
                           u64 sender_generation)
        signed by the sender with that generation's Ed25519 key.

It travels beside the message (``file_claim`` of the send), not inside its
statement, so the message statement (§10) and its vectors stay as they are.
``client_message_id`` ties it to the one message of (conversation, sender)
with that id. The server links the upload to the message only if the sender
created the upload or can download it now (forwarding by reference); the
recipient checks the file against ``file_hash`` from the decrypted box (§18),
never against the claim.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from . import signing
from . import statements as st
from .errors import UsageError

__all__ = ["FILE_CLAIM", "FileClaim", "parse_file_claim", "sign_file_claim",
           "upload_id_bytes", "verify_file_claim"]

FILE_CLAIM = st.Schema(
    "securechat/v2/file-claim",
    (
        st.Field("conversation_id", st.Kind.BYTES, 16),
        st.Field("client_message_id", st.Kind.BYTES, 16),
        st.Field("upload_id", st.Kind.BYTES, 16),
        st.Field("sender_id", st.Kind.U64),
        st.Field("sender_generation", st.Kind.U64),
    ),
)


@dataclass(frozen=True)
class FileClaim:
    conversation_id: bytes
    client_message_id: bytes
    upload_id: bytes
    sender_id: int
    sender_generation: int

    @property
    def upload_id_hex(self) -> str:
        """The upload id as the upload server spells it (32 lowercase hex digits)."""
        return self.upload_id.hex()

    def to_bytes(self) -> bytes:
        return st.encode(FILE_CLAIM, self.__dict__)


def upload_id_bytes(upload_id: str) -> bytes:
    """``upload_id`` (32 hex digits, as the tus server names uploads) as 16 bytes."""
    if len(upload_id) != 32 or upload_id != upload_id.lower():
        raise UsageError("an upload id is 32 lowercase hex digits")
    try:
        return bytes.fromhex(upload_id)
    except ValueError:
        raise UsageError("an upload id is 32 lowercase hex digits") from None


def parse_file_claim(data: bytes) -> FileClaim:
    """The claim in ``data`` (:class:`StatementError` unless exactly canonical)."""
    return FileClaim(**st.parse(FILE_CLAIM, data))


def sign_file_claim(key: Ed25519PrivateKey, claim: FileClaim) -> tuple[bytes, bytes]:
    """``(statement, signature)`` of ``claim`` under ``key`` (the sender's generation)."""
    data = claim.to_bytes()
    return data, signing.sign(key, data)


def verify_file_claim(public_key: bytes, data: bytes, signature: bytes) -> FileClaim:
    """The claim, if ``signature`` verifies with ``public_key`` (:class:`SignatureError`)."""
    claim = parse_file_claim(data)
    signing.verify(public_key, data, signature)
    return claim
