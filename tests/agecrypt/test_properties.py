"""Property tests (hypothesis) of the STREAM payload.

Round trips for arbitrary sizes and arbitrary write splits, and tampering:
a flipped bit anywhere, truncation at any point, appended bytes, two chunks
swapped, a chunk taken from another file. Tampering must raise an AgeError,
and whatever was released before the error must be whole, verified chunks of
the true plaintext (a prefix) — never wrong plaintext.
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
IDENTITY = agecrypt.X25519Identity.from_seed(bytes(range(32)))
RECIPIENTS = [IDENTITY.recipient()]

sizes = st.one_of(
    st.integers(0, 3 * CHUNK + 100),
    st.sampled_from([k * CHUNK + d for k in range(4) for d in (-1, 0, 1) if k * CHUNK + d >= 0]),
)


def plaintext_of(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def decrypt_collecting(blob: bytes) -> tuple[list[bytes], agecrypt.AgeError | None]:
    released: list[bytes] = []
    try:
        for chunk in agecrypt.decrypt_stream(io.BytesIO(blob), [IDENTITY]):
            released.append(chunk)
    except agecrypt.AgeError as exc:
        return released, exc
    return released, None


def assert_fails_closed(blob: bytes, plaintext: bytes) -> None:
    """An AgeError is raised and released chunks are the true plaintext chunks, in order."""
    released, error = decrypt_collecting(blob)
    assert error is not None, "tampered file decrypted without error"
    for i, chunk in enumerate(released):
        assert chunk == plaintext[i * CHUNK : (i + 1) * CHUNK], f"chunk {i} is wrong plaintext"
        assert len(chunk) == CHUNK or i * CHUNK + len(chunk) == len(plaintext)


@settings(max_examples=60, deadline=None)
@given(size=sizes, seed=st.integers(0, 2**32), cuts=st.lists(st.floats(0, 1), max_size=8))
def test_round_trip_any_size_any_write_split(size, seed, cuts):
    """Whatever the size and however the writes are split, decryption returns the input."""
    plaintext = plaintext_of(size, seed)
    points = sorted({int(c * size) for c in cuts} | {0, size})
    out = io.BytesIO()
    with agecrypt.Encryptor(out, RECIPIENTS) as enc:
        for a, b in zip(points, points[1:], strict=False):
            assert enc.write(plaintext[a:b]) == b - a
    blob = out.getvalue()
    released, error = decrypt_collecting(blob)
    assert error is None
    assert b"".join(released) == plaintext
    assert agecrypt.decrypt(blob, [IDENTITY]) == plaintext
    fc = agecrypt.FileCipher.open(io.BytesIO(blob), [IDENTITY])
    assert len(blob) == fc.ciphertext_size(size)


@settings(max_examples=80, deadline=None)
@given(size=sizes, seed=st.integers(0, 2**32), where=st.floats(0, 1), bit=st.integers(0, 7))
def test_flipped_bit_anywhere_fails_closed(size, seed, where, bit):
    """Flipping any single bit of the file (header, nonce or payload) is detected."""
    plaintext = plaintext_of(size, seed)
    blob = bytearray(agecrypt.encrypt(plaintext, RECIPIENTS))
    pos = min(int(where * len(blob)), len(blob) - 1)
    blob[pos] ^= 1 << bit
    assert_fails_closed(bytes(blob), plaintext)


@settings(max_examples=60, deadline=None)
@given(size=sizes, seed=st.integers(0, 2**32), where=st.floats(0, 1))
def test_truncation_anywhere_fails_closed(size, seed, where):
    """Cutting the file at any point before its end is detected."""
    plaintext = plaintext_of(size, seed)
    blob = agecrypt.encrypt(plaintext, RECIPIENTS)
    cut = min(int(where * len(blob)), len(blob) - 1)
    assert_fails_closed(blob[:cut], plaintext)


@settings(max_examples=50, deadline=None)
@given(size=sizes, seed=st.integers(0, 2**32), extra=st.binary(min_size=1, max_size=ENC_CHUNK_SIZE))
def test_appended_bytes_fail_closed(size, seed, extra):
    """Any bytes after the final chunk are a PayloadError."""
    plaintext = plaintext_of(size, seed)
    blob = agecrypt.encrypt(plaintext, RECIPIENTS)
    assert_fails_closed(blob + extra, plaintext)
    assert isinstance(decrypt_collecting(blob + extra)[1], agecrypt.PayloadError)


@settings(max_examples=40, deadline=None)
@given(
    n_chunks=st.integers(2, 4),
    tail=st.integers(0, 100),
    seed=st.integers(0, 2**32),
    pair=st.tuples(st.integers(0, 4), st.integers(0, 4)),
)
def test_swapped_chunks_fail_closed(n_chunks, tail, seed, pair):
    """Swapping two different full chunks is detected."""
    size = n_chunks * CHUNK + tail
    plaintext = plaintext_of(size, seed)
    blob = bytearray(agecrypt.encrypt(plaintext, RECIPIENTS))
    fc = agecrypt.FileCipher.open(io.BytesIO(bytes(blob)), [IDENTITY])
    i, j = sorted(p % n_chunks for p in pair)
    if i == j:
        j = (i + 1) % n_chunks
        i, j = sorted((i, j))
    ci = bytes(blob[fc.chunk_offset(i) : fc.chunk_offset(i + 1)])
    cj = bytes(blob[fc.chunk_offset(j) : fc.chunk_offset(j + 1)])
    blob[fc.chunk_offset(i) : fc.chunk_offset(i + 1)] = cj
    blob[fc.chunk_offset(j) : fc.chunk_offset(j + 1)] = ci
    assert_fails_closed(bytes(blob), plaintext)


@settings(max_examples=40, deadline=None)
@given(size=st.integers(1, 3 * CHUNK + 100), seed=st.integers(0, 2**32), which=st.floats(0, 1))
def test_chunk_from_another_file_fails_closed(size, seed, which):
    """Replacing a chunk by the same-index chunk of another file (same recipient) is detected."""
    plaintext = plaintext_of(size, seed)
    blob = bytearray(agecrypt.encrypt(plaintext, RECIPIENTS))
    other = agecrypt.encrypt(plaintext, RECIPIENTS)  # same plaintext, different key/nonce
    fc = agecrypt.FileCipher.open(io.BytesIO(bytes(blob)), [IDENTITY])
    fo = agecrypt.FileCipher.open(io.BytesIO(other), [IDENTITY])
    n = fc.chunk_count(size)
    i = min(int(which * n), n - 1)
    end_b = fc.chunk_offset(i + 1) if i < n - 1 else len(blob)
    end_o = fo.chunk_offset(i + 1) if i < n - 1 else len(other)
    blob[fc.chunk_offset(i) : end_b] = other[fo.chunk_offset(i) : end_o]
    assert_fails_closed(bytes(blob), plaintext)


def test_fails_closed_helper_can_fail():
    """assert_fails_closed rejects an untampered file (it raises no error)."""
    blob = agecrypt.encrypt(b"fine", RECIPIENTS)
    with pytest.raises(AssertionError):
        assert_fails_closed(blob, b"fine")
