"""The message box: a context-bound key, padding buckets, ChaCha20-Poly1305 (protocol.md §9).

    context = field(conversation_id:16) || field(u64 epoch) || field(envelope_hash:32) ||
              field(u64 sender_id) || field(u64 sender_generation) || field(device_id:16) ||
              field(u64 device_counter)
    key     = HKDF-SHA256(ikm=epoch_secret, salt=box_salt(16),
                          info="securechat/v2/message" || context, L=32)
    padded  = u32be(len(json)) || json || zero bytes up to the bucket
    ct      = ChaCha20-Poly1305(key, nonce=12 zero bytes, padded, aad=context)
    box     = 0x02 || box_salt || ct          (at most 48 KiB)

Each box has a fresh random salt, hence a fresh key, so the zero nonce is
never reused under one key. The receiver builds the context from its own
state, never from the message. Opening releases nothing unless the tag
verifies *and* the padding is canonical (:class:`PaddingError`).

The second half is the signed message statement (protocol.md §10): the
context, the client message id, the kind, SHA-256(box_salt || ct), the
previous hash, ``seen`` and the client clock, signed with Ed25519; its
SHA-256 is the message hash.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from . import _clock, _rand, signing
from . import statements as st
from .errors import BoxAuthError, BoxFormatError, PaddingError, StatementError, UsageError

__all__ = [
    "BOX_VERSION",
    "CONTEXT_FIELDS",
    "PADDED_SIZES",
    "MAX_BOX_SIZE",
    "MESSAGE",
    "MessageContext",
    "MessageStatement",
    "box_hash",
    "build_statement",
    "message_hash",
    "parse_statement",
    "sign_statement",
    "verify_statement",
    "bucket_size",
    "check_box",
    "encode_text",
    "open_box",
    "pad",
    "parse_plaintext",
    "seal",
    "unpad",
]

BOX_VERSION = 0x02
SALT_SIZE = 16
TAG_SIZE = 16
MAX_BOX_SIZE = 48 * 1024
_OVERHEAD = 1 + SALT_SIZE + TAG_SIZE
_BUCKETS = (256, 1024, 4096, 16384)
_BIG_BUCKET = 16384
# Every padded size a box of at most 48 KiB can hold: 256, 1 KiB, 4 KiB, 16 KiB, 32 KiB.
PADDED_SIZES = frozenset(
    s for s in (*_BUCKETS, *range(2 * _BIG_BUCKET, MAX_BOX_SIZE + 1, _BIG_BUCKET))
    if s + _OVERHEAD <= MAX_BOX_SIZE
)
_INFO = b"securechat/v2/message"
_NONCE = bytes(12)

CONTEXT_FIELDS = (
    st.Field("conversation_id", st.Kind.BYTES, 16),
    st.Field("epoch", st.Kind.U64),
    st.Field("envelope_hash", st.Kind.BYTES, 32),
    st.Field("sender_id", st.Kind.U64),
    st.Field("sender_generation", st.Kind.U64),
    st.Field("device_id", st.Kind.BYTES, 16),
    st.Field("device_counter", st.Kind.U64),
)


@dataclass(frozen=True)
class MessageContext:
    """Where a message belongs; both sides build it from their own verified state."""

    conversation_id: bytes
    epoch: int
    envelope_hash: bytes
    sender_id: int
    sender_generation: int
    device_id: bytes
    device_counter: int

    def values(self) -> dict:
        return {f.name: getattr(self, f.name) for f in CONTEXT_FIELDS}

    def to_bytes(self) -> bytes:
        """The context bytes (fields only, no tag); :class:`UsageError` on a bad value."""
        return st.encode_body(CONTEXT_FIELDS, self.values())


def bucket_size(n: int) -> int:
    """The padded size for ``n`` = 4 + len(json) bytes: 256, 1 KiB, 4 KiB, 16 KiB, then x 16 KiB."""
    for size in _BUCKETS:
        if n <= size:
            return size
    return -(-n // _BIG_BUCKET) * _BIG_BUCKET


def pad(data: bytes) -> bytes:
    """``u32be(len) || data || zeros`` up to :func:`bucket_size`."""
    body = len(data).to_bytes(4, "big") + bytes(data)
    return body + bytes(bucket_size(len(body)) - len(body))


def unpad(padded: bytes) -> bytes:
    """Inverse of :func:`pad`; refuses a length beyond the buffer, non-zero padding, or a
    buffer that is not the canonical bucket for its length (:class:`PaddingError`)."""
    if len(padded) < 4:
        raise PaddingError("padded plaintext too short")
    n = int.from_bytes(padded[:4], "big")
    if n > len(padded) - 4:
        raise PaddingError("length beyond the buffer")
    if any(padded[4 + n :]):
        raise PaddingError("non-zero padding")
    if len(padded) != bucket_size(4 + n):
        raise PaddingError("padded to the wrong bucket")
    return bytes(padded[4 : 4 + n])


def _key(epoch_secret: bytes, box_salt: bytes, context: bytes) -> bytes:
    if not isinstance(epoch_secret, bytes | bytearray) or len(epoch_secret) != 32:
        raise UsageError("an epoch secret is 32 bytes")
    hkdf = HKDF(algorithm=SHA256(), length=32, salt=box_salt, info=_INFO + context)
    return hkdf.derive(bytes(epoch_secret))


def seal(epoch_secret: bytes, context: MessageContext, plaintext_json: bytes) -> bytes:
    """The box for ``plaintext_json`` (the sender's exact JSON bytes) under a fresh salt."""
    if not isinstance(plaintext_json, bytes | bytearray):
        raise UsageError("the plaintext is JSON bytes")
    return _seal_padded(epoch_secret, context, pad(plaintext_json), _rand._random_bytes(SALT_SIZE))


def _seal_padded(epoch_secret: bytes, context: MessageContext, padded: bytes, salt: bytes) -> bytes:
    # Separate from seal() so the vector generator can seal deliberately bad padding.
    if len(padded) + _OVERHEAD > MAX_BOX_SIZE:
        raise UsageError("the message is too large for one box (48 KiB)")
    aad = context.to_bytes()
    ct = ChaCha20Poly1305(_key(epoch_secret, salt, aad)).encrypt(_NONCE, bytes(padded), aad)
    return bytes([BOX_VERSION]) + salt + ct


def check_box(box: bytes) -> None:
    """Structural checks anyone can make without a key (the server's parse, too)."""
    if not isinstance(box, bytes | bytearray):
        raise BoxFormatError("a box is bytes")
    if len(box) - _OVERHEAD not in PADDED_SIZES:
        raise BoxFormatError("box size is not one a padded message can have")
    if box[0] != BOX_VERSION:
        raise BoxFormatError("unknown box version")


def open_box(epoch_secret: bytes, context: MessageContext, box: bytes) -> bytes:
    """The sender's JSON bytes, or :class:`BoxFormatError` / :class:`BoxAuthError` /
    :class:`PaddingError`. Nothing is released past a bad tag or bad padding."""
    check_box(box)
    box = bytes(box)
    salt, ct = box[1 : 1 + SALT_SIZE], box[1 + SALT_SIZE :]
    aad = context.to_bytes()
    try:
        padded = ChaCha20Poly1305(_key(epoch_secret, salt, aad)).decrypt(_NONCE, ct, aad)
    except InvalidTag:
        raise BoxAuthError("the box does not open in this context") from None
    return unpad(padded)


def encode_text(text: str) -> bytes:
    """``{"v":2,"type":"text","text":…}`` as compact UTF-8 JSON (what JSON.stringify gives)."""
    if not isinstance(text, str):
        raise UsageError("text is a str")
    try:
        doc = {"v": 2, "type": "text", "text": text}
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError("the text is not valid Unicode") from None


def _no_duplicates(pairs: list) -> dict:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("duplicate key in plaintext JSON")
    return dict(pairs)


def parse_plaintext(data: bytes) -> dict:
    """The plaintext object; refuses bad UTF-8, non-objects, duplicate keys, ``v`` ≠ 2 and a
    missing string ``type`` (:class:`BoxFormatError`). Never re-serialised."""
    try:
        doc = json.loads(bytes(data).decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError):
        raise BoxFormatError("the plaintext is not a JSON object") from None
    if not isinstance(doc, dict):
        raise BoxFormatError("the plaintext is not a JSON object")
    if type(doc.get("v")) is not int or doc["v"] != 2 or not isinstance(doc.get("type"), str):
        raise BoxFormatError("the plaintext is not a version 2 message")
    return doc


# --- the signed message statement (protocol.md §10) ---------------------------

MESSAGE = st.Schema(
    "securechat/v2/message",
    (
        *CONTEXT_FIELDS,
        st.Field("client_message_id", st.Kind.BYTES, 16),
        st.Field("kind", st.Kind.ASCII),
        st.Field("box_hash", st.Kind.BYTES, 32),
        st.Field("prev_hash", st.Kind.BYTES, 32),
        st.Field("seen_seq", st.Kind.U64),
        st.Field("seen_hash", st.Kind.BYTES, 32),
        st.Field("client_clock_ms", st.Kind.U64),
    ),
)
ZERO_HASH = bytes(32)


@dataclass(frozen=True)
class MessageStatement:
    """What the sender signs about one box. ``prev_hash``/``seen_hash`` are zeros when none."""

    context: MessageContext
    client_message_id: bytes
    kind: str
    box_hash: bytes
    prev_hash: bytes
    seen_seq: int
    seen_hash: bytes
    client_clock_ms: int

    def to_bytes(self) -> bytes:
        extra = {f.name: getattr(self, f.name) for f in MESSAGE.fields[len(CONTEXT_FIELDS) :]}
        return st.encode(MESSAGE, {**self.context.values(), **extra})


def box_hash(box: bytes) -> bytes:
    """SHA-256(box_salt || ct): the box without its version byte, as the statement signs it."""
    check_box(box)
    return hashlib.sha256(bytes(box[1:])).digest()


def build_statement(
    context: MessageContext,
    box: bytes,
    *,
    client_message_id: bytes,
    kind: str,
    prev_hash: bytes = ZERO_HASH,
    seen_seq: int = 0,
    seen_hash: bytes = ZERO_HASH,
    client_clock_ms: int | None = None,
) -> MessageStatement:
    """The statement for a sealed ``box``; the clock defaults to the private clock seam."""
    clock = _clock._now_ms() if client_clock_ms is None else client_clock_ms
    statement = MessageStatement(
        context, client_message_id, kind, box_hash(box), prev_hash, seen_seq, seen_hash, clock
    )
    statement.to_bytes()  # validates every field now, not at signing time
    return statement


def parse_statement(data: bytes) -> MessageStatement:
    """A message statement from its bytes; :class:`StatementError` if it is not canonical."""
    values = st.parse(MESSAGE, data)
    context = MessageContext(**{f.name: values.pop(f.name) for f in CONTEXT_FIELDS})
    return MessageStatement(context, **values)


def message_hash(statement: bytes) -> bytes:
    """SHA-256 of the statement bytes: how replies, edits and ``seen`` name a message."""
    return hashlib.sha256(bytes(statement)).digest()


def sign_statement(key: Ed25519PrivateKey, statement: MessageStatement) -> tuple[bytes, bytes]:
    """``(statement bytes, 64-byte signature)``."""
    data = statement.to_bytes()
    return data, signing.sign(key, data)


def verify_statement(
    public_key: bytes, data: bytes, signature: bytes, *, context: MessageContext, box: bytes
) -> MessageStatement:
    """Verify a received statement against the receiver's own context and the box it came with.

    Raises :class:`SignatureError` (bad signature), :class:`StatementError`
    (non-canonical bytes, or a context or box hash that differs from the
    receiver's: a moved or swapped message).
    """
    signing.verify(public_key, data, signature)
    statement = parse_statement(data)
    if statement.context != context:
        raise StatementError("the message was signed for another context")
    if statement.box_hash != box_hash(box):
        raise StatementError("the signature covers another box")
    return statement
