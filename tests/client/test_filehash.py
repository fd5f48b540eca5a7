"""client.filehash: the file hash over an age file's header+nonce and ciphertext chunks."""

from __future__ import annotations

import hashlib
import io
import random
import struct
import tracemalloc

import pytest

import agecrypt
from client import errors
from client.filehash import FileHasher, file_hash, verify_file_hash
from tests.client._vectors import load

VECTORS = load("filehash.json")
GOOD = [v for v in VECTORS if "error" not in v]
BAD = [v for v in VECTORS if "error" in v]


def independent(data: bytes) -> bytes:
    """Written from the spec with agecrypt.inspect for the layout, not client.filehash."""
    offset = agecrypt.inspect(io.BytesIO(data)).payload_offset
    hashes = [hashlib.sha256(data[:offset]).digest()]
    payload = data[offset:]
    hashes += [hashlib.sha256(payload[i:i + 65552]).digest() for i in range(0, len(payload), 65552)]
    f = lambda b: struct.pack(">I", len(b)) + b  # noqa: E731
    return hashlib.sha256(f(b"securechat/v2/file") + b"".join(f(h) for h in hashes)).digest()


@pytest.mark.parametrize("entry", GOOD, ids=lambda e: f"{e['plaintext_len']}B")
def test_vectors(entry):
    data = bytes.fromhex(entry["file"])
    assert file_hash(data).hex() == entry["file_hash"] == independent(data).hex()
    offset = agecrypt.inspect(io.BytesIO(data)).payload_offset
    assert hashlib.sha256(data[:offset]).hexdigest() == entry["header_nonce_hash"]
    assert len(entry["chunk_hashes"]) == max(1, -(-entry["plaintext_len"] // 65536))
    ident = agecrypt.parse_identity(entry["identity"])
    assert len(agecrypt.decrypt(data, [ident])) == entry["plaintext_len"]
    verify_file_hash(bytes.fromhex(entry["file_hash"]), data)


@pytest.mark.parametrize("entry", GOOD, ids=lambda e: f"{e['plaintext_len']}B")
def test_any_split_gives_the_same_hash(entry):
    data = bytes.fromhex(entry["file"])
    rng = random.Random(entry["plaintext_len"])
    for sizes in ([1], [7, 13], [65552], [65551, 2], [100000], [16, 65536, 3]):
        pieces, pos = [], 0
        while pos < len(data):
            n = rng.choice(sizes)
            pieces.append(data[pos:pos + n])
            pos += n
        assert file_hash(iter(pieces)).hex() == entry["file_hash"]
    byte_by_byte = FileHasher()
    for i in range(min(len(data), 400)):
        byte_by_byte.update(data[i:i + 1])
    byte_by_byte.update(memoryview(data)[400:])
    assert byte_by_byte.digest().hex() == entry["file_hash"]


@pytest.mark.parametrize("entry", BAD, ids=lambda e: e["why"])
def test_negative_vectors(entry):
    mismatch = entry["error"] == "file_hash_mismatch"
    cls = errors.FileHashMismatch if mismatch else errors.FileHashError
    with pytest.raises(cls) as info:
        verify_file_hash(bytes.fromhex(entry["expected"]), bytes.fromhex(entry["file"]))
    assert info.value.code == entry["error"]


def test_files_made_by_agecrypt_streaming_and_file_cipher_agree():
    ident = agecrypt.X25519Identity.generate()
    plain = bytes(range(256)) * 1000  # 256,000 bytes: 4 chunks
    out = io.BytesIO()
    with agecrypt.Encryptor(out, [ident.recipient()]) as enc:
        enc.write(plain)
    assert file_hash(out.getvalue()) == independent(out.getvalue())
    fc = agecrypt.FileCipher.create([ident.recipient()])
    n = fc.chunk_count(len(plain))
    chunks = [fc.encrypt_chunk(i, plain[i * 65536:(i + 1) * 65536], i == n - 1) for i in range(n)]
    hasher = FileHasher()  # what an uploader computes while encrypting
    hasher.update(fc.header_bytes + fc.nonce)
    for c in chunks:
        hasher.update(c)
    whole = fc.header_bytes + fc.nonce + b"".join(chunks)
    assert hasher.digest() == independent(whole) == file_hash(whole)


def test_constant_memory():
    ident = agecrypt.X25519Identity.generate()
    data = agecrypt.encrypt(bytes(4 * 1024 * 1024), [ident.recipient()])
    hasher = FileHasher()
    tracemalloc.start()
    try:
        for i in range(0, len(data), 100_000):
            hasher.update(data[i:i + 100_000])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert hasher.digest() == independent(data)
    assert peak < 400_000  # a few pieces, never the file


def test_header_limit_and_misuse():
    hasher = FileHasher()
    hasher.update(b"age-encryption.org/v1\n-> X25519 ")
    with pytest.raises(errors.FileHashError):
        hasher.update(b"A" * 70000)  # no MAC line within 64 KiB
    hasher = FileHasher()
    with pytest.raises(errors.UsageError):
        hasher.update("text")
    with pytest.raises(errors.FileHashError):
        hasher.digest()
    data = bytes.fromhex(GOOD[0]["file"])
    done = FileHasher()
    done.update(data)
    assert done.digest() == done.digest()
    with pytest.raises(errors.UsageError):
        done.update(b"x")
    with pytest.raises(errors.UsageError):
        verify_file_hash(b"short", data)
