"""client.files without a server: the encrypting stream tuspy reads, its resume record
and file hash (protocol.md §21). The live CLI tests are in test_cli_files.py."""

from __future__ import annotations

import io
import os

import pytest

import agecrypt
from agecrypt.stream import CHUNK_SIZE, ENC_CHUNK_SIZE
from client import filehash, files
from client.errors import FileChangedError, LocalFileError

OWNER = agecrypt.X25519Identity.generate()


def new_stream(tmp_path, data: bytes, owner=OWNER):
    identity = files.one_time_identity(owner)
    cipher = agecrypt.FileCipher.create([identity.recipient()])
    record = files.ResumeRecord(tmp_path / "uploads" / "r.age", str(owner.recipient()),
                                "http://127.0.0.1:1", "/data", len(data), str(identity),
                                cipher.header_bytes + cipher.nonce)
    source = io.BytesIO(data)
    return files.EncryptingStream(source, record, cipher), record, identity, source


def read_all(stream, piece: int) -> bytes:
    stream.seek(0)
    out = bytearray()
    while chunk := stream.read(piece):
        out += chunk
    return bytes(out)


@pytest.mark.parametrize("size", [0, 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE + 5])
@pytest.mark.parametrize("piece", [1000, ENC_CHUNK_SIZE, 1 << 20])
def test_the_stream_is_the_age_file_and_its_hash_is_the_protocols(tmp_path, size, piece):
    data = os.urandom(size)
    stream, _, identity, _ = new_stream(tmp_path, data)
    blob = read_all(stream, piece)
    assert len(blob) == stream.length
    assert agecrypt.decrypt(blob, [identity]) == data
    assert stream.file_hash() == filehash.file_hash(blob)


@pytest.mark.parametrize("owner", [OWNER, agecrypt.HybridIdentity.generate()],
                         ids=["x25519", "hybrid"])
def test_a_chunks_plaintext_hash_is_on_disk_before_its_ciphertext_is_returned(tmp_path, owner):
    data = os.urandom(3 * CHUNK_SIZE)
    stream, record, _, _ = new_stream(tmp_path, data, owner)
    prefix_len = len(record.prefix)
    assert stream.read(prefix_len) == record.prefix
    assert not record.path.exists()  # header and nonce only: no chunk recorded yet
    stream.read(1)  # the first byte of chunk 0
    on_disk = files.ResumeRecord.load(record.path, owner)
    assert len(on_disk.chunk_sha256) == 1
    stream.read(ENC_CHUNK_SIZE)  # reaches into chunk 1
    on_disk = files.ResumeRecord.load(record.path, owner)
    assert len(on_disk.chunk_sha256) == 2
    assert on_disk.prefix == record.prefix and on_disk.identity == record.identity
    # Encrypted at rest, to the owner: another key cannot open it.
    with pytest.raises(LocalFileError):
        files.ResumeRecord.load(record.path, type(owner).generate())
    assert record.path.stat().st_mode & 0o777 == 0o600
    assert record.identity.encode() not in record.path.read_bytes()


def test_a_chunk_that_changed_between_two_reads_stops_the_upload(tmp_path):
    data = bytearray(os.urandom(2 * CHUNK_SIZE))
    stream, record, _, source = new_stream(tmp_path, bytes(data))
    stream.seek(len(record.prefix) + 10)
    stream.read(100)  # part of chunk 0 leaves
    data[5] ^= 1
    source.seek(0)
    source.write(data)
    stream._cached = None  # another process, as after a resume
    stream.seek(len(record.prefix) + 110)
    with pytest.raises(FileChangedError):
        stream.read(100)  # the rest of chunk 0 would be a second ciphertext


def test_resume_verification_rehashes_every_recorded_chunk(tmp_path):
    data = bytearray(os.urandom(3 * CHUNK_SIZE))
    stream, record, _, _ = new_stream(tmp_path, bytes(data))
    read_all(stream, 1 << 20)
    cipher = record.cipher()  # from the record: the same key and nonce
    same = files.EncryptingStream(io.BytesIO(bytes(data)), record, cipher)
    assert same.verify_recorded() and same.file_hash() == stream.file_hash()
    data[2 * CHUNK_SIZE + 7] ^= 1  # the last recorded chunk
    changed = files.EncryptingStream(io.BytesIO(bytes(data)), record, cipher)
    assert not changed.verify_recorded()


def test_the_one_time_identity_has_the_accounts_key_type():
    assert isinstance(files.one_time_identity(agecrypt.HybridIdentity.generate()),
                      agecrypt.HybridIdentity)
    assert isinstance(files.one_time_identity(OWNER), agecrypt.X25519Identity)


def test_a_download_never_writes_through_a_planted_link(tmp_path):
    """A symlink where the temporary file goes is refused before any request (the
    session is never used) and the file it points to is untouched."""
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep me")
    target = tmp_path / "out.bin"
    upload_id = "ab" * 16
    (tmp_path / f".out.bin.{upload_id[:16]}.part").symlink_to(victim)
    ref = files.FileRef(upload_id, str(agecrypt.X25519Identity.generate()), bytes(32))
    with pytest.raises(LocalFileError, match="not a regular file"):
        files.download(None, ref, target)
    assert victim.read_bytes() == b"keep me" and not target.exists()
