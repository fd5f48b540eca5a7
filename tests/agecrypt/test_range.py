"""FileCipher.decrypt_range: plaintext byte ranges for HTTP Range downloads.

The result equals slicing the plaintext; only the header and the chunks the
range touches are read (plus the final chunk when the range runs to the end,
which is then verified as final so the stated total size cannot be wrong).
"""

from __future__ import annotations

import io
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import agecrypt
from agecrypt.stream import ENC_CHUNK_SIZE

CHUNK = agecrypt.CHUNK_SIZE
IDENTITY = agecrypt.X25519Identity.from_seed(bytes(range(1, 33)))
SIZES = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 17]
FILES = {}
for _n in SIZES:
    _p = random.Random(_n).randbytes(_n)
    FILES[_n] = (_p, agecrypt.encrypt(_p, [IDENTITY.recipient()]))


class RecordingFile(io.RawIOBase):
    """A seekable binary file that records every byte range it hands out."""

    def __init__(self, data: bytes) -> None:
        self._f = io.BytesIO(data)
        self.reads: list[tuple[int, int]] = []

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        return self._f.seek(pos, whence)

    def tell(self) -> int:
        return self._f.tell()

    def readinto(self, b) -> int:
        start = self._f.tell()
        n = self._f.readinto(b)
        if n:
            self.reads.append((start, start + n))
        return n

    def readline(self, size: int = -1) -> bytes:
        start = self._f.tell()
        line = self._f.readline(size)
        if line:
            self.reads.append((start, start + len(line)))
        return line

    def read(self, size: int = -1) -> bytes:
        start = self._f.tell()
        data = self._f.read(size)
        if data:
            self.reads.append((start, start + len(data)))
        return data

    def covered(self) -> list[tuple[int, int]]:
        """The union of the ranges read, as sorted disjoint intervals."""
        out: list[list[int]] = []
        for a, b in sorted(self.reads):
            if out and a <= out[-1][1]:
                out[-1][1] = max(out[-1][1], b)
            else:
                out.append([a, b])
        return [(a, b) for a, b in out]


def _merge(intervals):
    out: list[list[int]] = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def _range(size: int, blob: bytes, start: int, end: int) -> bytes:
    fc = agecrypt.FileCipher.open(io.BytesIO(blob), [IDENTITY])
    return b"".join(fc.decrypt_range(io.BytesIO(blob), start, end))


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_range_equals_slice(data):
    """decrypt_range(start, end) == plaintext[start:end] for any valid range."""
    size = data.draw(st.sampled_from(SIZES))
    plaintext, blob = FILES[size]
    start = data.draw(st.integers(0, size))
    end = data.draw(st.integers(start, size))
    assert _range(size, blob, start, end) == plaintext[start:end]


@pytest.mark.parametrize(
    "start,end",
    [(0, 1), (CHUNK - 1, CHUNK + 1), (CHUNK, 2 * CHUNK), (10, 3 * CHUNK), (3 * CHUNK, 3 * CHUNK)],
)
def test_range_across_chunk_boundaries(start, end):
    """Ranges that start/end exactly on or across chunk boundaries are exact."""
    plaintext, blob = FILES[3 * CHUNK + 17]
    assert _range(len(plaintext), blob, start, end) == plaintext[start:end]


@pytest.mark.parametrize(
    "start,end",
    [
        (0, 1),
        (CHUNK - 1, CHUNK + 1),
        (CHUNK, 2 * CHUNK),
        (CHUNK + 5, CHUNK + 6),
        (5, 3 * CHUNK + 17),
    ],
)
def test_reads_only_header_and_touched_chunks(start, end):
    """The bytes read are exactly the header+nonce and the touched chunks (+ the final one
    when the range runs to the end)."""
    plaintext, blob = FILES[3 * CHUNK + 17]
    size = len(plaintext)
    f = RecordingFile(blob)
    fc = agecrypt.FileCipher.open(f, [IDENTITY])
    assert f.covered() == [(0, fc.payload_offset)]
    f.reads.clear()
    got = b"".join(fc.decrypt_range(f, start, end))
    assert got == plaintext[start:end]
    touched = set(range(start // CHUNK, (end - 1) // CHUNK + 1))
    last = fc.chunk_count(size) - 1
    if end == size:
        touched.add(last)
    expected = _merge(
        (fc.chunk_offset(i), min(fc.chunk_offset(i) + ENC_CHUNK_SIZE, len(blob))) for i in touched
    )
    assert f.covered() == expected
    assert (last in touched) == (end == size)


def test_reads_nothing_for_an_empty_range_before_the_end():
    """An empty range that does not reach the end reads no chunk."""
    plaintext, blob = FILES[2 * CHUNK]
    f = RecordingFile(blob)
    fc = agecrypt.FileCipher.open(f, [IDENTITY])
    f.reads.clear()
    assert b"".join(fc.decrypt_range(f, 10, 10)) == b""
    assert f.reads == []


def _tamper(blob: bytes, offset: int) -> bytes:
    b = bytearray(blob)
    b[offset] ^= 0x01
    return bytes(b)


def test_tampered_final_chunk_detected_when_range_runs_to_end():
    """A corrupted final chunk fails a range that runs to the end, even if it starts earlier."""
    plaintext, blob = FILES[3 * CHUNK + 17]
    fc = agecrypt.FileCipher.open(io.BytesIO(blob), [IDENTITY])
    bad = _tamper(blob, len(blob) - 3)
    # a range inside chunk 0 never reads the final chunk
    assert b"".join(fc.decrypt_range(io.BytesIO(bad), 0, 100)) == plaintext[:100]
    # a range to the end, even an empty one, checks the final chunk
    for start in (0, CHUNK + 3, len(plaintext) - 1, len(plaintext)):
        with pytest.raises(agecrypt.PayloadError):
            b"".join(fc.decrypt_range(io.BytesIO(bad), start, len(plaintext)))


def test_final_chunk_replaced_by_non_final_is_detected():
    """Dropping the real final chunk (file ends on a full non-final chunk) is detected."""
    plaintext, blob = FILES[3 * CHUNK + 17]
    fc = agecrypt.FileCipher.open(io.BytesIO(blob), [IDENTITY])
    truncated = blob[: fc.chunk_offset(3)]
    with pytest.raises(agecrypt.PayloadError):
        b"".join(fc.decrypt_range(io.BytesIO(truncated), 0, 3 * CHUNK))


def test_wrong_total_length_is_detected():
    """Appended bytes or a cut inside a chunk give a PayloadError, never a wrong size."""
    plaintext, blob = FILES[2 * CHUNK]
    fc = agecrypt.FileCipher.open(io.BytesIO(blob), [IDENTITY])
    for bad in (blob + b"x" * 20, blob + b"x", blob[:-1], blob[:-20]):
        with pytest.raises(agecrypt.PayloadError):
            fc.plaintext_size(len(bad)) and b"".join(
                fc.decrypt_range(io.BytesIO(bad), 0, fc.plaintext_size(len(bad)))
            )


def test_invalid_ranges_are_usage_errors():
    """start > end, negative start or end past the plaintext are UsageError."""
    plaintext, blob = FILES[CHUNK + 1]
    fc = agecrypt.FileCipher.open(io.BytesIO(blob), [IDENTITY])
    for start, end in [(5, 4), (-1, 3), (0, CHUNK + 2)]:
        with pytest.raises(agecrypt.UsageError):
            fc.decrypt_range(io.BytesIO(blob), start, end)


def test_range_with_known_total_length_does_not_seek_to_end():
    """total_len= avoids seeking to the end of the file object."""
    plaintext, blob = FILES[2 * CHUNK]
    fc = agecrypt.FileCipher.open(io.BytesIO(blob), [IDENTITY])
    f = RecordingFile(blob)
    got = b"".join(fc.decrypt_range(f, CHUNK, CHUNK + 10, total_len=len(blob)))
    assert got == plaintext[CHUNK : CHUNK + 10]
