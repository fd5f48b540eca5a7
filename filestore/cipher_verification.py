"""The ciphertext-mode part of ``verify_storage`` (reads only, needs no key).

Every v2 upload's blob exists and has the size its row gives (the recorded
offset at least while uploading, exactly ``length`` once complete); a complete
one parses as age. With ``deep``, every complete blob is hashed in constant
memory and compared with the SHA-256 recorded while it arrived: that is what
sees a flipped payload byte (bit rot), which no structural check can.
"""

from __future__ import annotations

import agecrypt
from filestore import cipher_store, storage
from filestore.models import CipherUpload

HASH_MISMATCH = "hash_mismatch"


def check_cipher_uploads(report, *, deep: bool) -> None:
    """Append a ``Problem`` to ``report`` for each bad v2 blob (see the module docstring)."""
    for upload in CipherUpload.objects.order_by("pk").iterator(chunk_size=200):
        report.cipher_uploads += 1
        _check_one(upload, report, deep=deep)


def _problem(report, kind: str, upload, detail: str) -> None:
    from filestore.verification import Problem

    report.problems.append(Problem(kind, upload.blob_name, f"v2 upload {upload.pk}: {detail}"))


def _check_one(upload: CipherUpload, report, *, deep: bool) -> None:
    from filestore import verification as v

    try:
        path = storage.blob_path(upload.blob_name)
    except ValueError:
        return _problem(report, v.BAD_PATH, upload, "blob name outside the blob store")
    if not path.is_file():
        return _problem(report, v.MISSING, upload, "no blob")
    size = path.stat().st_size
    complete = upload.state == CipherUpload.State.COMPLETE
    low, high = (upload.length, upload.length) if complete else (upload.offset, upload.length)
    if not low <= size <= high:
        return _problem(report, v.SIZE_MISMATCH, upload,
                        f"{size} bytes on disk, expected between {low} and {high}")
    if not complete:
        return None
    try:
        with open(path, "rb") as f:
            agecrypt.inspect(f, total_len=size)
    except agecrypt.AgeError as exc:
        return _problem(report, v.UNPARSABLE, upload, str(exc))
    if deep:
        report.hashed += 1
        if cipher_store.hash_file(path).hexdigest() != upload.sha256:
            return _problem(report, HASH_MISMATCH, upload,
                            "SHA-256 differs from the one recorded at upload (bit rot?)")
    return None
