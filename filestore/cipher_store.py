"""Blobs and running hashes of uploads (no database here).

A blob is ``blobs/v2/<2 hex>/<upload id>.age``, written in order at the
offsets the client sends. The SHA-256 of the whole file is computed while the
bytes stream in; ``hashlib`` state cannot be saved, so this process keeps it
in memory keyed by upload id and offset, and a process that does not have it
(a restart, another worker) recomputes it from the stored, recorded prefix.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict

from filestore import storage

READ_BLOCK = 1024 * 1024
# Abandoned uploads would otherwise leave their hash here until a restart; past this
# many the oldest is dropped and, if that upload resumes, recomputed from disk.
MAX_KEPT_HASHES = 4096
_hashes: OrderedDict[str, tuple[int, hashlib._Hash]] = OrderedDict()
_hashes_lock = threading.Lock()


def blob_name_for(upload_id: str) -> str:
    return f"{storage.BLOB_DIR}/v2/{upload_id[:2]}/{upload_id}.age"


def create_blob(blob_name: str) -> None:
    """An empty blob (exclusive create), its directory entry synced."""
    path = storage.blob_path(blob_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)


def open_for_append(blob_name: str, offset: int) -> int:
    """A write descriptor with the file cut to ``offset``: bytes past the recorded
    offset were written by a request that died before recording them, so they are
    not trusted and the client resends them."""
    fd = os.open(storage.blob_path(blob_name), os.O_WRONLY)
    try:
        os.ftruncate(fd, offset)
    except OSError:
        os.close(fd)
        raise
    return fd


def read_prefix(blob_name: str, n: int) -> bytes:
    """The first ``n`` bytes (only ever a header's worth)."""
    with open(storage.blob_path(blob_name), "rb") as f:
        return f.read(n)


def hash_file(path, limit: int | None = None) -> hashlib._Hash:
    """SHA-256 of the first ``limit`` bytes of ``path`` (all when None), in constant memory."""
    digest = hashlib.sha256()
    remaining = limit
    with open(path, "rb") as f:
        while remaining is None or remaining > 0:
            size = READ_BLOCK if remaining is None else min(READ_BLOCK, remaining)
            block = f.read(size)
            if not block:
                break
            digest.update(block)
            if remaining is not None:
                remaining -= len(block)
    if remaining:
        raise OSError(f"blob shorter than its recorded offset ({remaining} bytes missing)")
    return digest


def running_hash(upload_id: str, blob_name: str, offset: int) -> hashlib._Hash:
    """The hash of the first ``offset`` bytes: from memory, else recomputed from disk."""
    with _hashes_lock:
        cached = _hashes.pop(upload_id, None)
    if cached is not None and cached[0] == offset:
        return cached[1]
    return hash_file(storage.blob_path(blob_name), offset)


def keep_hash(upload_id: str, offset: int, digest) -> None:
    """Remember the hash at a recorded offset for this upload's next PATCH."""
    with _hashes_lock:
        _hashes[upload_id] = (offset, digest)
        while len(_hashes) > MAX_KEPT_HASHES:
            _hashes.popitem(last=False)


def forget_hash(upload_id: str) -> None:
    with _hashes_lock:
        _hashes.pop(upload_id, None)
