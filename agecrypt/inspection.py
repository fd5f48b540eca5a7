"""Check the structure of an age file without any key: :func:`inspect`.

For operators' storage checks: does a blob parse as an age v1 file, and is
its length one that a whole file can have? Without the file key neither the
header MAC nor any chunk can be verified, so a file that passes is
*well-formed*, not *authentic*; decrypting is what proves the rest.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from ._io import Source
from .errors import HeaderError, UsageError
from .header import parse_header
from .stream import NONCE_SIZE, payload_size, plaintext_size_of_payload

__all__ = ["HeaderInfo", "inspect", "expected_size"]


@dataclass(frozen=True)
class HeaderInfo:
    """What the structure of one age file says.

    ``stanza_types``: the recipient stanza types in order (``"X25519"``,
    ``"mlkem768x25519"``, ``"scrypt"``, …). ``header_len``: bytes of the
    header, MAC line included. ``payload_offset``: ``header_len`` + the 16-byte
    nonce. ``payload_len``: the bytes after the nonce. ``plaintext_len``: the
    plaintext size that payload length implies (``None`` for a file still being
    written, ``inspect(..., whole=False)``).
    """

    stanza_types: tuple[str, ...]
    header_len: int
    payload_offset: int
    payload_len: int
    plaintext_len: int | None

    @property
    def total_len(self) -> int:
        return self.payload_offset + self.payload_len


def inspect(fileobj: Any, *, total_len: int | None = None, whole: bool = True) -> HeaderInfo:
    """Parse the header and nonce of the binary file ``fileobj`` (positioned at 0).

    ``total_len`` is the whole file's length; when omitted it is found with
    ``seek(0, SEEK_END)`` (``fileobj`` must then be seekable). Raises
    :class:`HeaderError` for a malformed header or a file that ends before the
    nonce, :class:`PayloadError` when no whole age file has that length
    (truncated, an empty final chunk, trailing bytes of less than a tag).
    Armored files are not accepted (stored blobs are binary). ``whole=False``
    is for a file still being written (chunks arrive at their offsets): only
    the header and nonce are checked.
    """
    source = Source(fileobj)
    header = parse_header(source)
    if not header.stanzas:
        raise HeaderError("header has no recipient stanza")
    nonce = source.read(NONCE_SIZE)
    if len(nonce) != NONCE_SIZE:
        raise HeaderError("file ends before the payload nonce")
    payload_offset = len(header.raw) + NONCE_SIZE
    if total_len is None:
        total_len = fileobj.seek(0, io.SEEK_END)
    if not isinstance(total_len, int) or total_len < payload_offset:
        raise UsageError("total_len is shorter than the header and nonce just read")
    payload_len = total_len - payload_offset
    plaintext_len = plaintext_size_of_payload(payload_len) if whole else None
    return HeaderInfo(
        stanza_types=tuple(s.type for s in header.stanzas),
        header_len=len(header.raw),
        payload_offset=payload_offset,
        payload_len=payload_len,
        plaintext_len=plaintext_len,
    )


def expected_size(payload_offset: int, plaintext_len: int) -> int:
    """The whole file's length for ``plaintext_len`` bytes behind a header+nonce of
    ``payload_offset`` bytes (the inverse of :attr:`HeaderInfo.plaintext_len`)."""
    if not isinstance(payload_offset, int) or payload_offset <= NONCE_SIZE:
        raise UsageError("payload_offset must cover a header and the nonce")
    return payload_offset + payload_size(plaintext_len)

