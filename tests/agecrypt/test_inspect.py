"""agecrypt.inspect: the structure of an age file, checked without any key.

It reports the stanza types, where the payload starts and the plaintext length
the file's length implies; it refuses (typed errors) anything that is not the
binary age format or whose length no whole age file can have.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

import agecrypt
from agecrypt import CHUNK_SIZE
from tests.agecrypt.test_vectors import identities_for, load, vector_paths

SIZES = [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE]


def x25519_file(size: int) -> bytes:
    recipient = agecrypt.X25519Identity.generate().recipient()
    return agecrypt.encrypt(b"\x5a" * size, [recipient])


@pytest.mark.parametrize("size", SIZES)
def test_reports_layout_and_plaintext_length(size):
    """For files agecrypt writes, inspect agrees with FileCipher and the arithmetic."""
    identity = agecrypt.X25519Identity.generate()
    data = agecrypt.encrypt(b"\x5a" * size, [identity.recipient()])
    info = agecrypt.inspect(io.BytesIO(data))
    fc = agecrypt.FileCipher.open(io.BytesIO(data), [identity])
    assert info.stanza_types == ("X25519",)
    assert info.header_len == len(fc.header_bytes)
    assert info.payload_offset == fc.payload_offset
    assert info.plaintext_len == size
    assert info.total_len == len(data)
    assert agecrypt.expected_size(info.payload_offset, size) == len(data)
    assert fc.ciphertext_size(size) == len(data)


def test_reports_every_stanza_type_and_accepts_a_given_length():
    """Hybrid with two recipients; scrypt; a file object that cannot seek with total_len."""
    hybrid = [agecrypt.HybridIdentity.generate().recipient() for _ in range(2)]
    data = agecrypt.encrypt(b"hello", hybrid)
    assert agecrypt.inspect(io.BytesIO(data)).stanza_types == ("mlkem768x25519",) * 2
    scrypt = agecrypt.encrypt(b"hello", [agecrypt.ScryptRecipient("pass", work_factor=2)])
    info = agecrypt.inspect(io.BufferedReader(io.BytesIO(scrypt)), total_len=len(scrypt))
    assert info.stanza_types == ("scrypt",) and info.plaintext_len == 5


@pytest.mark.parametrize("cut", [100, 101, 115])
def test_truncated_files_are_payload_errors(cut):
    """A file cut so that its final chunk is shorter than a tag (or only a tag after a
    full chunk) has a length no age file can have."""
    data = x25519_file(CHUNK_SIZE + 100)  # final chunk: 100 + 16 bytes
    with pytest.raises(agecrypt.PayloadError):
        agecrypt.inspect(io.BytesIO(data[:-cut]))


def test_other_truncations_show_as_a_different_plaintext_length():
    """Cut inside the final chunk's data, the length still fits some file: inspect reports
    that smaller length, which is what a storage check compares with its records."""
    data = x25519_file(CHUNK_SIZE + 100)
    assert agecrypt.inspect(io.BytesIO(data[:-1])).plaintext_len == CHUNK_SIZE + 99
    assert agecrypt.inspect(io.BytesIO(data[:-116])).plaintext_len == CHUNK_SIZE


def test_a_file_ending_after_the_nonce_or_in_the_header_is_refused():
    data = x25519_file(10)
    info = agecrypt.inspect(io.BytesIO(data))
    with pytest.raises(agecrypt.PayloadError):  # nonce present, no chunk at all
        agecrypt.inspect(io.BytesIO(data[: info.payload_offset]))
    partial = agecrypt.inspect(io.BytesIO(data[: info.payload_offset]), whole=False)
    assert partial.payload_len == 0 and partial.plaintext_len is None  # still being written
    with pytest.raises(agecrypt.HeaderError):  # nonce cut short
        agecrypt.inspect(io.BytesIO(data[: info.payload_offset - 1]))
    with pytest.raises(agecrypt.HeaderError):  # header cut short
        agecrypt.inspect(io.BytesIO(data[: info.header_len - 5]))


@pytest.mark.parametrize("garbage", [b"", b"\x00" * 100, b"age-encryption.org/v2\n",
                                     b"age-encryption.org/v1\n--- \n",
                                     b"age-encryption.org/v1\n---" + b" " + b"A" * 43 + b"\n",
                                     b"-----BEGIN AGE ENCRYPTED FILE-----\n"])
def test_garbage_is_a_header_error(garbage):
    """Not age, an unknown version, a bad MAC line, no stanza, or armor (blobs are binary)."""
    with pytest.raises(agecrypt.HeaderError):
        agecrypt.inspect(io.BytesIO(garbage + b"\x00" * 64))


def test_errors_are_age_errors_and_positive_control():
    """The typed errors derive from AgeError; the same probe accepts the intact file."""
    data = x25519_file(1000)
    assert agecrypt.inspect(io.BytesIO(data)).plaintext_len == 1000
    for bad in (data[:-1001], b"junk" + data):
        with pytest.raises(agecrypt.AgeError):
            agecrypt.inspect(io.BytesIO(bad))


@pytest.mark.parametrize(
    "path",
    [p for p in vector_paths() if not load(p).armored and load(p).expect == "success"],
    ids=lambda p: p.name,
)
def test_every_binary_success_vector_inspects_to_its_plaintext_length(path: Path):
    """On the CCTV vectors that decrypt, inspect's plaintext length is the real one."""
    v = load(path)
    plaintext = agecrypt.decrypt(v.body, identities_for(v))
    assert agecrypt.inspect(io.BytesIO(v.body)).plaintext_len == len(plaintext)
