"""STREAM: the age payload, chunk by chunk.

The payload is the 16-byte nonce followed by chunks of at most
:data:`CHUNK_SIZE` (64 KiB) plaintext, each sealed with ChaCha20-Poly1305
under ``HKDF-SHA256(ikm=file key, salt=nonce, info="payload")``. The 12-byte
AEAD nonce of chunk *i* is *i* as an 11-byte big-endian counter followed by
``0x01`` for the final chunk and ``0x00`` otherwise.

Rules enforced here: every chunk but the last is exactly full; the last
chunk is non-empty unless it is also the first (an empty file is one empty
final chunk); nothing may follow the final chunk.
"""

from __future__ import annotations

from collections.abc import Iterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from ._io import Source
from .errors import PayloadError, UsageError
from .primitives import hkdf_sha256

__all__ = [
    "CHUNK_SIZE",
    "ENC_CHUNK_SIZE",
    "NONCE_SIZE",
    "TAG_SIZE",
    "ChunkCipher",
    "payload_size",
    "plaintext_size_of_payload",
]

CHUNK_SIZE = 64 * 1024
TAG_SIZE = 16
ENC_CHUNK_SIZE = CHUNK_SIZE + TAG_SIZE
NONCE_SIZE = 16
_MAX_CHUNKS = 1 << 88  # the 11-byte counter


def payload_size(plaintext_len: int) -> int:
    """Bytes of STREAM chunks (without the 16-byte nonce) for ``plaintext_len`` bytes."""
    if not isinstance(plaintext_len, int) or plaintext_len < 0:
        raise UsageError("plaintext length must be a non-negative int")
    chunks = max(1, -(-plaintext_len // CHUNK_SIZE))
    return plaintext_len + chunks * TAG_SIZE


def plaintext_size_of_payload(chunks_len: int) -> int:
    """Inverse of :func:`payload_size`; :class:`PayloadError` if no plaintext has that size."""
    if not isinstance(chunks_len, int) or chunks_len < TAG_SIZE:
        raise PayloadError("payload too short to hold a final chunk")
    full, rest = divmod(chunks_len, ENC_CHUNK_SIZE)
    if rest == 0:
        return full * CHUNK_SIZE
    if rest < TAG_SIZE or (rest == TAG_SIZE and full > 0):
        raise PayloadError("impossible payload size (truncated or empty final chunk)")
    return full * CHUNK_SIZE + rest - TAG_SIZE


class ChunkCipher:
    """ChaCha20-Poly1305 over STREAM chunks under one payload key (one AEAD object reused)."""

    __slots__ = ("_aead",)

    def __init__(self, file_key: bytes, nonce: bytes) -> None:
        self._aead = ChaCha20Poly1305(hkdf_sha256(file_key, nonce, b"payload"))

    @staticmethod
    def _check_index(index: int) -> None:
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < _MAX_CHUNKS:
            raise UsageError("chunk index out of range")

    def seal(self, index: int, plaintext, last: bool) -> bytes:
        """Encrypt chunk ``index``; non-final chunks must be exactly :data:`CHUNK_SIZE`."""
        self._check_index(index)
        n = len(plaintext)
        if last:
            if n > CHUNK_SIZE or (n == 0 and index != 0):
                raise UsageError("a final chunk holds 1..65536 bytes (0 only for an empty file)")
        elif n != CHUNK_SIZE:
            raise UsageError("a non-final chunk must hold exactly 65536 bytes")
        nonce = index.to_bytes(11, "big") + (b"\x01" if last else b"\x00")
        return self._aead.encrypt(nonce, plaintext, None)

    def open(self, index: int, ciphertext, last: bool) -> bytes:
        """Decrypt and verify chunk ``index``; :class:`PayloadError` on any failure."""
        self._check_index(index)
        n = len(ciphertext)
        if last:
            if n > ENC_CHUNK_SIZE or n < TAG_SIZE:
                raise PayloadError("final chunk has an impossible size")
            if n == TAG_SIZE and index != 0:
                raise PayloadError("final chunk is empty (only allowed for an empty file)")
        elif n != ENC_CHUNK_SIZE:
            raise PayloadError("non-final chunk is not full")
        nonce = index.to_bytes(11, "big") + (b"\x01" if last else b"\x00")
        try:
            return self._aead.decrypt(nonce, ciphertext, None)
        except InvalidTag:
            raise PayloadError(f"chunk {index} failed authentication") from None

    def iter_open(self, source: Source) -> Iterator[bytes]:
        """Yield verified plaintext chunks read from ``source`` until the final chunk.

        Reads one byte ahead to tell whether a full chunk is the last one (as
        age's reference does), so a truncated stream, a missing final chunk or
        trailing data is a :class:`PayloadError`. Nothing of a chunk is yielded
        before its tag verifies. A full chunk that only verifies under the other
        last-chunk flag (a full final chunk followed by trailing data, or a
        non-final chunk at EOF) is authentic, so it is yielded and then
        :class:`PayloadError` is raised, exactly as age's reference behaves
        (the test vectors pin the released bytes). Memory is constant (one
        reused buffer; in-memory ``BytesIO`` input is decrypted in place).
        """
        memory = source.memory()
        if memory is None:
            return self._open_all(_chunks_from_source(source))
        view, start = memory
        return self._open_memory(source, view, start)

    def _open_memory(self, source: Source, view: memoryview, start: int) -> Iterator[bytes]:
        pos = [start]
        try:
            yield from self._open_all(_chunks_from_memory(view, pos))
        finally:
            source.release_memory(view, pos[0])

    def _open_all(self, chunks: Iterator[tuple[memoryview, bool]]) -> Iterator[bytes]:
        decrypt = self._aead.decrypt
        index = 0
        for ct, last in chunks:
            n = len(ct)
            if last:
                if n < TAG_SIZE:
                    raise PayloadError("truncated payload: final chunk missing or too short")
                if n == TAG_SIZE and index != 0:
                    raise PayloadError("final chunk is empty (only allowed for an empty file)")
            nonce = index.to_bytes(11, "big") + (b"\x01" if last else b"\x00")
            problem = None
            try:
                plaintext = decrypt(nonce, ct, None)
            except InvalidTag:
                if n != ENC_CHUNK_SIZE:
                    raise PayloadError(f"chunk {index} failed authentication") from None
                # A full chunk verifies under the other last-chunk flag? Then it is
                # authentic but misplaced: a full final chunk followed by trailing
                # data, or a non-final chunk at the end of the file. age's reference
                # releases it and then fails; the test vectors pin that, so do the same.
                flipped = nonce[:11] + (b"\x00" if last else b"\x01")
                try:
                    plaintext = decrypt(flipped, ct, None)
                except InvalidTag:
                    raise PayloadError(f"chunk {index} failed authentication") from None
                problem = (
                    "truncated payload: the file ends without a final chunk"
                    if last
                    else "trailing data after the final chunk"
                )
            yield plaintext
            if problem is not None:
                raise PayloadError(problem)
            if last:
                return
            index += 1


def _chunks_from_source(source: Source) -> Iterator[tuple[memoryview, bool]]:
    """Yield ``(ciphertext view, is_last)``; each view is valid until the next step."""
    buf = bytearray(ENC_CHUNK_SIZE + 1)
    mv = memoryview(buf)
    have = 0
    while True:
        n = have + source.readinto_exact(mv[have:])
        if n <= ENC_CHUNK_SIZE:
            yield mv[:n], True
            return
        yield mv[:ENC_CHUNK_SIZE], False
        buf[0] = buf[ENC_CHUNK_SIZE]
        have = 1


def _chunks_from_memory(view: memoryview, pos: list[int]) -> Iterator[tuple[memoryview, bool]]:
    """Like :func:`_chunks_from_source` over an in-memory buffer, without copying."""
    size = len(view)
    while True:
        start = pos[0]
        remaining = size - start
        if remaining <= ENC_CHUNK_SIZE:
            pos[0] = size
            yield view[start:size], True
            return
        pos[0] = start + ENC_CHUNK_SIZE
        yield view[start : start + ENC_CHUNK_SIZE], False
