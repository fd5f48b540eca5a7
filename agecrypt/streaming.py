"""Streaming and one-shot encryption/decryption of whole age files."""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from typing import Any

from ._io import Source
from .armor import _ArmorReader, _ArmorWriter
from .errors import ArmorError, UsageError
from .filecipher import FileCipher
from .header import Identity, Recipient
from .stream import CHUNK_SIZE

__all__ = ["Encryptor", "decrypt", "decrypt_stream", "encrypt"]

_WHITESPACE = b" \t\r\n"


class Encryptor:
    """Write plaintext of any size in any pieces; the age file is emitted as it goes.

    The header and nonce are written at construction, each full chunk as soon
    as it is known not to be the last one, and the final chunk by
    :meth:`close` (also called by ``with`` on a clean exit; after an exception
    the file is left without its final chunk, so it will never decrypt as
    complete). ``out`` is not closed. Memory use is one chunk.
    """

    def __init__(self, out: Any, recipients: Sequence[Recipient], armor: bool = False) -> None:
        self._cipher = FileCipher.create(recipients)
        self._out = _ArmorWriter(out) if armor else out
        self._armored = armor
        self._buf = bytearray(CHUNK_SIZE)
        self._view = memoryview(self._buf)
        self._fill = 0
        self._index = 0
        self._closed = False
        self._out.write(self._cipher.header_bytes + self._cipher.nonce)

    def _emit(self, data, last: bool) -> None:
        self._out.write(self._cipher._chunks.seal(self._index, data, last))
        self._index += 1

    def write(self, data: bytes) -> int:
        if self._closed:
            raise UsageError("write to a closed Encryptor")
        fill = self._fill
        if fill + len(data) < CHUNK_SIZE and fill < CHUNK_SIZE:  # fast path: just buffer
            n = len(data)
            self._buf[fill : fill + n] = data
            self._fill = fill + n
            return n
        mv = memoryview(data).cast("B")
        total = len(mv)
        pos = 0
        while pos < total:
            if self._fill == CHUNK_SIZE:  # more data follows: the buffered chunk is not last
                self._emit(self._view, False)
                self._fill = 0
            if self._fill == 0 and total - pos > CHUNK_SIZE:
                self._emit(mv[pos : pos + CHUNK_SIZE], False)
                pos += CHUNK_SIZE
                continue
            take = min(CHUNK_SIZE - self._fill, total - pos)
            self._view[self._fill : self._fill + take] = mv[pos : pos + take]
            self._fill += take
            pos += take
        return total

    def close(self) -> None:
        """Write the final chunk (and the armor END line). Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._emit(self._view[: self._fill], True)
        if self._armored:
            self._out.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> Encryptor:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self._closed = True


def _is_armored(source: Source) -> bool:
    head = source.peek(64)
    stripped = head.lstrip(_WHITESPACE)
    while not stripped and len(head) < 1024 and len(source.peek(len(head) + 64)) > len(head):
        head = source.peek(len(head) + 64)
        stripped = head.lstrip(_WHITESPACE)
    return stripped.startswith(b"-")


def decrypt_stream(
    in_fileobj: Any, identities: Sequence[Identity], *, armored: bool | None = None
) -> Iterator[bytes]:
    """Decrypt an age file from a binary file object, yielding verified plaintext chunks.

    The header is parsed, the file key unwrapped and the header MAC verified
    *before* this function returns (so header errors surface immediately);
    the returned iterator then yields one verified chunk at a time in constant
    memory, raising :class:`PayloadError` at the first bad chunk (nothing of it
    is released). ``armored``: ``None`` detects ASCII armor (leading whitespace,
    then ``-``), ``True`` requires it, ``False`` forbids it.
    """
    source = Source(in_fileobj)
    if armored is None:
        armored = _is_armored(source)
    if armored:
        source = Source(_ArmorReader(source))
    cipher = FileCipher._open_source(source, identities)
    return cipher._chunks.iter_open(source)


def encrypt(plaintext: bytes, recipients: Sequence[Recipient]) -> bytes:
    """Encrypt ``plaintext`` to ``recipients``; return the binary age file."""
    out = io.BytesIO()
    with Encryptor(out, recipients) as enc:
        enc.write(plaintext)
    return out.getvalue()


def decrypt(ciphertext: bytes, identities: Sequence[Identity]) -> bytes:
    """Decrypt a whole age file (binary, or ASCII-armored) held in memory."""
    if isinstance(ciphertext, str):
        try:
            ciphertext = ciphertext.encode("ascii")
        except UnicodeEncodeError:
            raise ArmorError("non-ASCII character in armored data") from None
    return b"".join(decrypt_stream(io.BytesIO(ciphertext), identities))
