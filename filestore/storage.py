"""The age files of uploads and stored files under ``MEDIA_ROOT/blobs/``.

Layout: ``blobs/<2 hex>/<uuid>.age``. A blob is created with its header and
payload nonce at upload creation; chunk *i* is written once, at its fixed
offset ``FileCipher.chunk_offset(i)``, with one ``pwrite``. Nothing here
touches the database.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from agecrypt import CHUNK_SIZE, AgeError, FileCipher

BLOB_DIR = "blobs"


def blob_root() -> Path:
    return Path(settings.MEDIA_ROOT) / BLOB_DIR


def new_blob_name() -> str:
    name = uuid.uuid4().hex
    return f"{BLOB_DIR}/{name[:2]}/{name}.age"


def blob_path(blob_name: str) -> Path:
    path = (Path(settings.MEDIA_ROOT) / blob_name).resolve()
    root = blob_root().resolve()
    if root not in path.parents:
        raise ValueError("blob outside the blob store")
    return path


def create_blob(blob_name: str, fc: FileCipher) -> None:
    """Write header + nonce of a new blob (exclusive create) and sync it."""
    path = blob_path(blob_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, fc.header_bytes + fc.nonce)
        os.fsync(fd)
    finally:
        os.close(fd)


def delete_blob(blob_name: str) -> bool:
    try:
        blob_path(blob_name).unlink()
    except FileNotFoundError:
        return False
    return True


def open_cipher(blob_name: str, identities) -> FileCipher:
    """Unwrap the blob's file key with the uploader's identities (reads header + nonce)."""
    with open(blob_path(blob_name), "rb") as f:
        return FileCipher.open(f, identities)


def last_chunk_index(length: int) -> int:
    return FileCipher.chunk_count(length) - 1


def chunk_plain_len(index: int, length: int) -> int:
    """Plaintext length of chunk ``index`` of a file of ``length`` bytes."""
    if index < last_chunk_index(length):
        return CHUNK_SIZE
    return length - index * CHUNK_SIZE


@dataclass
class Recovery:
    """What ``recover`` found: chunks that verified beyond the record, or a reason to void."""

    committed_chunks: int
    complete: bool = False
    void_reason: str = ""


def recover(blob_name: str, fc: FileCipher, length: int, committed_chunks: int,
            inflight_end: int) -> Recovery:
    """Check the blob of an upload whose last writer died mid-PATCH.

    Chunks ``[committed_chunks, inflight_end)`` may have been written. Every
    chunk there that is present in full and decrypts (with its own index and
    last-chunk flag) was written by this server from the client's bytes at
    that offset, once: it is adopted (the offset moves past it, so it is never
    written again). Anything else found beyond the adopted chunks — a torn
    chunk, bytes that do not verify, or data past the recorded range — cannot
    be proven to match what the client would resend, and rewriting that index
    would reuse the STREAM nonce under the same key: the upload is voided.
    A blob shorter than its committed chunks is voided too.
    """
    path = blob_path(blob_name)
    last = last_chunk_index(length)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        committed_end = fc.chunk_offset(committed_chunks)
        if size < committed_end:
            return Recovery(committed_chunks, void_reason="blob shorter than its record")
        index = committed_chunks
        while index < min(inflight_end, last + 1):
            want = chunk_plain_len(index, length) + 16
            start = fc.chunk_offset(index)
            if size < start + want:
                break
            f.seek(start)
            data = f.read(want)
            try:
                fc.decrypt_chunk(index, data, index == last)
            except AgeError:
                return Recovery(committed_chunks, void_reason="unverifiable chunk")
            index += 1
        end = fc.chunk_offset(index) if index <= last else fc.ciphertext_size(length)
        if size > end:
            return Recovery(committed_chunks, void_reason="partial chunk beyond the record")
        return Recovery(index, complete=index > last)


class BlobWriter:
    """Writes whole encrypted chunks of one upload at their fixed offsets."""

    def __init__(self, blob_name: str, fc: FileCipher, length: int):
        self.fc = fc
        self.length = length
        self.last_index = last_chunk_index(length)
        self.fd = os.open(blob_path(blob_name), os.O_WRONLY)

    def write_chunk(self, index: int, plaintext: bytes) -> None:
        last = index == self.last_index
        ciphertext = self.fc.encrypt_chunk(index, plaintext, last)
        os.pwrite(self.fd, ciphertext, self.fc.chunk_offset(index))

    def write_chunks(self, first: int, plaintexts: list) -> None:
        """Encrypt consecutive chunks and write them with one ``pwritev``."""
        ciphertexts = [self.fc.encrypt_chunk(first + i, p, first + i == self.last_index)
                       for i, p in enumerate(plaintexts)]
        offset = self.fc.chunk_offset(first)
        total = sum(len(c) for c in ciphertexts)
        written = os.pwritev(self.fd, ciphertexts, offset)
        if written != total:  # short write (disk full): finish it or raise
            data = b"".join(ciphertexts)[written:]
            while data:
                n = os.pwrite(self.fd, data, offset + written)
                written += n
                data = data[n:]

    def write_partial_for_test(self, index: int, plaintext: bytes) -> None:
        """A torn write (half a chunk), only for the test fault hook."""
        ciphertext = self.fc.encrypt_chunk(index, plaintext, index == self.last_index)
        os.pwrite(self.fd, ciphertext[: len(ciphertext) // 2], self.fc.chunk_offset(index))

    def sync(self) -> None:
        os.fdatasync(self.fd)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


