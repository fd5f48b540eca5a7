"""Chunk-addressable access to one age file: :class:`FileCipher`.

An age file is ``header || nonce (16 bytes) || chunk_0 || chunk_1 || …`` where
every chunk but the last is exactly 65536 + 16 bytes. So the ciphertext
offset of chunk *i* is ``payload_offset + i * 65552`` and each chunk can be
encrypted or decrypted on its own — for uploads that arrive piece by piece and
for HTTP Range downloads.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from typing import Any

from . import _rand
from ._io import Source
from .errors import HeaderError, PayloadError, UsageError
from .header import Identity, Recipient, build_header, parse_header, unwrap_file_key, wrap_file_key
from .primitives import FILE_KEY_SIZE
from .stream import (
    CHUNK_SIZE,
    ENC_CHUNK_SIZE,
    NONCE_SIZE,
    ChunkCipher,
    payload_size,
    plaintext_size_of_payload,
)

__all__ = ["FileCipher"]


class FileCipher:
    """The keys and layout of one age file, without the file key ever leaving the object.

    Make one with :meth:`create` (new file: fresh file key, header and nonce)
    or :meth:`open` (existing file: parse the header, unwrap, verify its MAC,
    read the nonce). Only the derived payload cipher is kept.
    """

    __slots__ = ("_header", "_nonce", "_chunks")

    def __init__(self, *_: Any, **__: Any) -> None:
        raise TypeError("use FileCipher.create(recipients) or FileCipher.open(fileobj, identities)")

    @classmethod
    def _new(cls, header: bytes, nonce: bytes, file_key: bytes) -> FileCipher:
        self = object.__new__(cls)
        self._header = header
        self._nonce = nonce
        self._chunks = ChunkCipher(file_key, nonce)
        return self

    @classmethod
    def create(cls, recipients: Sequence[Recipient]) -> FileCipher:
        """Start a new file for ``recipients`` (random file key, header with MAC, nonce)."""
        file_key = _rand._random_bytes(FILE_KEY_SIZE)
        stanzas = wrap_file_key(recipients, file_key)
        header = build_header(stanzas, file_key)
        nonce = _rand._random_bytes(NONCE_SIZE)
        return cls._new(header, nonce, file_key)

    @classmethod
    def _open_source(cls, source: Source, identities: Sequence[Identity]) -> FileCipher:
        header = parse_header(source)
        file_key = unwrap_file_key(header, identities)
        nonce = source.read(NONCE_SIZE)
        if len(nonce) != NONCE_SIZE:
            raise HeaderError("file ends before the payload nonce")
        return cls._new(header.raw, nonce, file_key)

    @classmethod
    def open(cls, fileobj: Any, identities: Sequence[Identity]) -> FileCipher:
        """Read the header and nonce of a binary file object positioned at offset 0.

        Reads exactly ``payload_offset`` bytes when ``fileobj`` has ``readline``.
        Raises :class:`HeaderError`, :class:`NoIdentityMatchError` or
        :class:`HeaderMACError`.
        """
        return cls._open_source(Source(fileobj), identities)

    # --- layout ---

    @property
    def header_bytes(self) -> bytes:
        """The whole header, MAC line included."""
        return self._header

    @property
    def nonce(self) -> bytes:
        """The 16-byte payload nonce (follows the header)."""
        return self._nonce

    @property
    def payload_offset(self) -> int:
        """Offset of chunk 0: ``len(header_bytes) + 16``."""
        return len(self._header) + NONCE_SIZE

    def chunk_offset(self, index: int) -> int:
        """Ciphertext offset of chunk ``index``."""
        if not isinstance(index, int) or index < 0:
            raise UsageError("chunk index must be a non-negative int")
        return self.payload_offset + index * ENC_CHUNK_SIZE

    def ciphertext_size(self, plaintext_len: int) -> int:
        """Total file size (header + nonce + chunks) for ``plaintext_len`` bytes."""
        return self.payload_offset + payload_size(plaintext_len)

    def plaintext_size(self, ciphertext_total_len: int) -> int:
        """Plaintext size of a whole file of ``ciphertext_total_len`` bytes.

        Raises :class:`PayloadError` when no valid file has that length.
        """
        if not isinstance(ciphertext_total_len, int):
            raise UsageError("length must be an int")
        return plaintext_size_of_payload(ciphertext_total_len - self.payload_offset)

    @staticmethod
    def chunk_count(plaintext_len: int) -> int:
        """Number of chunks of a file of ``plaintext_len`` bytes (at least 1)."""
        if not isinstance(plaintext_len, int) or plaintext_len < 0:
            raise UsageError("plaintext length must be a non-negative int")
        return max(1, -(-plaintext_len // CHUNK_SIZE))

    # --- chunks ---

    def encrypt_chunk(self, index: int, plaintext: bytes, last: bool) -> bytes:
        """Encrypt chunk ``index`` on its own.

        A non-final chunk must be exactly 65536 bytes; the final chunk 1..65536
        bytes, or 0 bytes only as chunk 0 of an empty file.
        """
        return self._chunks.seal(index, plaintext, bool(last))

    def decrypt_chunk(self, index: int, ciphertext: bytes, last: bool) -> bytes:
        """Decrypt and verify chunk ``index``; :class:`PayloadError` if anything is wrong."""
        return self._chunks.open(index, ciphertext, bool(last))

    def decrypt_range(
        self, fileobj: Any, start: int, end_exclusive: int, *, total_len: int | None = None
    ) -> Iterator[bytes]:
        """Yield the verified plaintext bytes ``[start, end_exclusive)`` of the file.

        Seeks to and reads only the chunks the range touches. When the range
        runs to the end of the plaintext, the final chunk is read and verified
        with the last-chunk flag, so a truncated or extended file is detected
        and the plaintext size derived from the length is never wrong.
        ``total_len`` is the ciphertext length; if omitted it is found with
        ``seek(0, SEEK_END)``. The range must satisfy
        ``0 <= start <= end_exclusive <= plaintext_size`` (:class:`UsageError`).
        """
        if total_len is None:
            total_len = fileobj.seek(0, io.SEEK_END)
        size = self.plaintext_size(total_len)
        if (
            not isinstance(start, int)
            or not isinstance(end_exclusive, int)
            or not 0 <= start <= end_exclusive <= size
        ):
            raise UsageError("byte range outside the plaintext")
        return self._iter_range(fileobj, start, end_exclusive, size)

    def _iter_range(self, fileobj: Any, start: int, end: int, size: int) -> Iterator[bytes]:
        last_index = self.chunk_count(size) - 1
        if end == size:
            first = min(start // CHUNK_SIZE, last_index)
            stop = last_index
        elif start == end:
            return
        else:
            first, stop = start // CHUNK_SIZE, (end - 1) // CHUNK_SIZE
        fileobj.seek(self.chunk_offset(first))
        buf = bytearray(ENC_CHUNK_SIZE)
        mv = memoryview(buf)
        src = Source(fileobj)
        for index in range(first, stop + 1):
            last = index == last_index
            want = ENC_CHUNK_SIZE if not last else size - index * CHUNK_SIZE + 16
            got = src.readinto_exact(mv[:want])
            if got != want:
                raise PayloadError("file shorter than its stated length")
            plaintext = self._chunks.open(index, mv[:want], last)
            lo = max(start - index * CHUNK_SIZE, 0)
            hi = min(end - index * CHUNK_SIZE, len(plaintext))
            if hi > lo:
                yield plaintext if (lo == 0 and hi == len(plaintext)) else plaintext[lo:hi]

    def __repr__(self) -> str:
        return f"<FileCipher payload_offset={self.payload_offset}>"
