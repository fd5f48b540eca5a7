"""The hash a file message signs, over an age file's ciphertext (protocol.md §18).

    file_hash = SHA-256( statement("securechat/v2/file",
                         SHA-256(header || nonce), SHA-256(c_0), ..., SHA-256(c_last)) )

where ``header`` is the age header up to and including its MAC line, ``nonce``
the 16-byte STREAM nonce and ``c_i`` the ciphertext chunks of 65,552 bytes
(64 KiB + 16-byte tag; only the last may be shorter, and it is exactly 16
bytes only for an empty file). Each hash is one statement field, so the
bytes hashed are ``field(tag) || field(h_header) || field(h_0) || ...``.

:class:`FileHasher` takes the file in pieces of any size and keeps constant
memory (the header, at most 64 KiB, is held until its MAC line has arrived so
it can be parsed). Nothing is decrypted: the hash proves which ciphertext the
sender signed, and the age tags prove the rest.
"""

from __future__ import annotations

import hashlib
import hmac
import io
from collections.abc import Iterable

from agecrypt import AgeError
from agecrypt._io import Source
from agecrypt.header import parse_header
from agecrypt.stream import ENC_CHUNK_SIZE, NONCE_SIZE, plaintext_size_of_payload

from . import statements as st
from .errors import FileHashError, FileHashMismatch, UsageError

__all__ = ["MAX_HEADER_SIZE", "FileHasher", "file_hash", "verify_file_hash"]

TAG = b"securechat/v2/file"
MAX_HEADER_SIZE = 64 * 1024
_HASH_FIELD = (32).to_bytes(4, "big")


class FileHasher:
    """Incremental :func:`file_hash`: :meth:`update` with any split, then :meth:`digest`."""

    def __init__(self) -> None:
        self._outer = hashlib.sha256(st.field(TAG))
        self._header = bytearray()
        self._scan = 0  # start of the header line not yet complete
        self._prefix: hashlib._Hash | None = None  # SHA-256(header || nonce) while in progress
        self._nonce_left = NONCE_SIZE
        self._chunk = hashlib.sha256()
        self._chunk_len = 0
        self._payload_len = 0
        self._done = False

    def update(self, data: bytes) -> None:
        if self._done:
            raise UsageError("the hash is already final")
        if not isinstance(data, bytes | bytearray | memoryview):
            raise UsageError("feed bytes")
        view = memoryview(data).cast("B")
        if self._prefix is None:
            view = self._feed_header(view)
        if self._nonce_left and len(view):
            take = min(self._nonce_left, len(view))
            self._prefix.update(view[:take])
            self._nonce_left -= take
            view = view[take:]
            if not self._nonce_left:
                self._add(self._prefix.digest())
        if len(view):
            self._feed_payload(view)

    def _feed_header(self, view: memoryview) -> memoryview:
        """Buffer header bytes; once the MAC line is complete, parse it and return the rest."""
        start = len(self._header)
        self._header += view
        while (nl := self._header.find(b"\n", self._scan)) >= 0:
            if self._header.startswith(b"---", self._scan):
                rest = view[nl + 1 - start :]
                del self._header[nl + 1 :]
                self._check_header()
                return rest
            self._scan = nl + 1
        if len(self._header) > MAX_HEADER_SIZE:
            raise FileHashError("the age header is too long")
        return view[len(view) :]

    def _check_header(self) -> None:
        header = bytes(self._header)
        try:
            parsed = parse_header(Source(io.BytesIO(header)))
        except AgeError:
            raise FileHashError("not an age header") from None
        if parsed.raw != header or not parsed.stanzas:
            raise FileHashError("not an age header")
        self._prefix = hashlib.sha256(header)
        self._header = bytearray()

    def _feed_payload(self, view: memoryview) -> None:
        self._payload_len += len(view)
        while len(view):
            if self._chunk_len == ENC_CHUNK_SIZE:
                self._add(self._chunk.digest())
                self._chunk, self._chunk_len = hashlib.sha256(), 0
            take = min(ENC_CHUNK_SIZE - self._chunk_len, len(view))
            self._chunk.update(view[:take])
            self._chunk_len += take
            view = view[take:]

    def _add(self, h: bytes) -> None:
        self._outer.update(_HASH_FIELD + h)

    def digest(self) -> bytes:
        """The 32-byte file hash; :class:`FileHashError` if the bytes are not a whole age file
        (no header, no nonce, a truncated or impossible payload length)."""
        if self._prefix is None or self._nonce_left:
            raise FileHashError("the file ends before its header and nonce")
        try:
            plaintext_size_of_payload(self._payload_len)
        except AgeError:
            raise FileHashError("the payload length is not one an age file can have") from None
        if not self._done:
            self._add(self._chunk.digest())
            self._done = True
        return self._outer.digest()


def file_hash(pieces: bytes | Iterable[bytes]) -> bytes:
    """The file hash of a whole age file, given as bytes or as an iterable of pieces."""
    hasher = FileHasher()
    for piece in [pieces] if isinstance(pieces, bytes | bytearray) else pieces:
        hasher.update(piece)
    return hasher.digest()


def verify_file_hash(expected: bytes, pieces: bytes | Iterable[bytes]) -> None:
    """Return only if the file's hash is ``expected``; :class:`FileHashMismatch` otherwise
    (shown as a forgery), :class:`FileHashError` if it is not an age file."""
    if not isinstance(expected, bytes) or len(expected) != 32:
        raise UsageError("a file hash is 32 bytes")
    if not hmac.compare_digest(file_hash(pieces), expected):
        raise FileHashMismatch("the file is not the one its sender signed")
