"""The storage check behind ``manage.py verify_storage`` (reads only, needs no key).

On disk, under ``MEDIA_ROOT/blobs/``:

- every stored file's blob exists, parses as an age file (``agecrypt.inspect``),
  has exactly the length its plaintext size gives (``agecrypt.expected_size``),
  matching the ``ciphertext_size`` column and the file message's size, and its
  header + nonce hash to the digest the message's signature covers;
- every upload in progress has its blob, with a header that parses and at
  least the chunks it recorded as committed (at most the whole file);
- every version 2 (ciphertext-mode) upload's blob has its recorded size, and
  with ``deep`` its recorded SHA-256 (``filestore.cipher_verification``);
- every file there belongs to a stored file or an upload ("orphan" otherwise;
  files younger than ``grace`` seconds are skipped: an upload's blob is
  written just before its row).

In the database, every age file kept in a column parses too: message bodies,
upload metadata, contact pins, wrapped identities.

Problems name the blob (its path under ``MEDIA_ROOT``) or the row (model and
id), never content; names exist only encrypted anyway. A problem found while
the site runs is checked once more against the database before it is
reported, so a purge or upload racing the check is not reported.
"""

from __future__ import annotations

import hashlib
import io
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from django.conf import settings

import agecrypt
from accounts.models import WrappedIdentity
from filestore import storage
from filestore.cipher_verification import check_cipher_uploads
from filestore.models import CipherUpload, StoredFile, Upload
from messaging.models import ContactPins, Message

MISSING = "missing"
UNPARSABLE = "unparsable"
SIZE_MISMATCH = "size_mismatch"
DIGEST_MISMATCH = "digest_mismatch"
ORPHAN = "orphan"
BAD_PATH = "bad_path"


@dataclass
class Problem:
    kind: str
    where: str
    detail: str


@dataclass
class StorageReport:
    stored_files: int = 0
    uploads: int = 0
    database_blobs: int = 0
    disk_files: int = 0
    disk_bytes: int = 0
    recent_skipped: int = 0
    cipher_uploads: int = 0
    hashed: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


def _relative(path: Path) -> str:
    return path.relative_to(Path(settings.MEDIA_ROOT)).as_posix()


def _inspect_file(path: Path, *, whole: bool) -> tuple[agecrypt.HeaderInfo, bytes]:
    """The blob's structure and its header + nonce bytes."""
    with open(path, "rb") as f:
        info = agecrypt.inspect(f, whole=whole)
        f.seek(0)
        prefix = f.read(info.payload_offset)
    return info, prefix


def _check_stored_file(item: StoredFile, report: StorageReport) -> None:
    where = item.blob_name
    try:
        path = storage.blob_path(item.blob_name)
    except ValueError:
        report.problems.append(Problem(BAD_PATH, where, f"stored file {item.pk}: "
                                                        "blob name outside the blob store"))
        return
    if not path.is_file():
        report.problems.append(Problem(MISSING, where, f"stored file {item.pk} "
                                                       f"(message {item.message_id})"))
        return
    try:
        info, prefix = _inspect_file(path, whole=True)
    except agecrypt.AgeError as exc:
        report.problems.append(Problem(UNPARSABLE, where, f"stored file {item.pk}: {exc}"))
        return
    expected = agecrypt.expected_size(info.payload_offset, item.size)
    if info.total_len != expected or item.ciphertext_size != expected:
        report.problems.append(Problem(
            SIZE_MISMATCH, where,
            f"stored file {item.pk}: {info.total_len} bytes on disk, {expected} expected for "
            f"{item.size} bytes of plaintext (recorded: {item.ciphertext_size})"))
    elif item.message.file_size is not None and item.message.file_size != item.size:
        report.problems.append(Problem(
            SIZE_MISMATCH, where, f"stored file {item.pk}: {item.size} bytes, its message "
                                  f"says {item.message.file_size}"))
    if hashlib.sha256(prefix).digest() != bytes(item.file_digest):
        report.problems.append(Problem(DIGEST_MISMATCH, where,
                                       f"stored file {item.pk}: header and nonce are not the "
                                       "ones its message signed"))


def _check_upload(upload: Upload, report: StorageReport) -> None:
    where = upload.blob_name
    try:
        path = storage.blob_path(upload.blob_name)
    except ValueError:
        report.problems.append(Problem(BAD_PATH, where, f"upload {upload.pk}: blob name "
                                                        "outside the blob store"))
        return
    if not path.is_file():
        report.problems.append(Problem(MISSING, where, f"upload {upload.pk}"))
        return
    try:
        info, _prefix = _inspect_file(path, whole=False)
    except agecrypt.AgeError as exc:
        report.problems.append(Problem(UNPARSABLE, where, f"upload {upload.pk}: {exc}"))
        return
    committed = info.payload_offset + upload.committed_chunks * agecrypt.ENC_CHUNK_SIZE
    whole = agecrypt.expected_size(info.payload_offset, upload.length)
    if not min(committed, whole) <= info.total_len <= whole:
        report.problems.append(Problem(
            SIZE_MISMATCH, where,
            f"upload {upload.pk}: {info.total_len} bytes on disk, expected between "
            f"{min(committed, whole)} (committed) and {whole} (complete)"))


def _check_database_blob(label: str, data, report: StorageReport) -> None:
    report.database_blobs += 1
    raw = bytes(data)
    try:
        agecrypt.inspect(io.BytesIO(raw), total_len=len(raw))
    except agecrypt.AgeError as exc:
        report.problems.append(Problem(UNPARSABLE, label, str(exc)))


def _check_database(report: StorageReport) -> None:
    for pk, body in Message.objects.alive().exclude(body=None).values_list("pk", "body") \
            .iterator(chunk_size=500):
        _check_database_blob(f"message {pk} body", body, report)
    for pk, blob in Upload.objects.values_list("pk", "metadata_blob").iterator(chunk_size=500):
        _check_database_blob(f"upload {pk} metadata", blob, report)
    for pk, blob in ContactPins.objects.values_list("pk", "blob").iterator(chunk_size=500):
        _check_database_blob(f"contact pins of user {pk}", blob, report)
    for pk, password_blob, recovery_blob in WrappedIdentity.objects.values_list(
            "user_id", "password_blob", "recovery_blob").iterator(chunk_size=500):
        _check_database_blob(f"password-wrapped identity of user {pk}", password_blob, report)
        _check_database_blob(f"recovery-wrapped identity of user {pk}", recovery_blob, report)


def referenced_blobs() -> set[str]:
    """Blob names a row needs now: stored files kept, uploads not yet purged."""
    names = set(StoredFile.objects.filter(state=StoredFile.State.STORED)
                .values_list("blob_name", flat=True))
    names |= set(Upload.objects.exclude(state=Upload.State.COMPLETE)
                 .values_list("blob_name", flat=True))
    names |= set(CipherUpload.objects.values_list("blob_name", flat=True))
    return names


def _still_a_problem(problem: Problem) -> bool:
    """Re-read the database for one problem: a concurrent purge or upload explains it?"""
    if problem.kind == ORPHAN:
        return problem.where not in referenced_blobs()
    if problem.kind == MISSING:
        return (StoredFile.objects.filter(blob_name=problem.where,
                                          state=StoredFile.State.STORED).exists()
                or Upload.objects.filter(blob_name=problem.where,
                                         state=Upload.State.UPLOADING).exists()
                or CipherUpload.objects.filter(blob_name=problem.where).exists())
    return True


def verify_storage(*, grace: float = 60, database: bool = True,
                   deep: bool = False) -> StorageReport:
    """Check every blob and every row that names one (see the module docstring);
    ``deep`` also hashes every complete v2 blob (``filestore.cipher_verification``)."""
    report = StorageReport()
    for item in (StoredFile.objects.filter(state=StoredFile.State.STORED)
                 .select_related("message").iterator(chunk_size=200)):
        report.stored_files += 1
        _check_stored_file(item, report)
    for upload in Upload.objects.filter(state=Upload.State.UPLOADING).iterator(chunk_size=200):
        report.uploads += 1
        _check_upload(upload, report)
    check_cipher_uploads(report, deep=deep)
    if database:
        _check_database(report)
    referenced = referenced_blobs()
    root = storage.blob_root()
    now = time.time()
    if root.is_dir():
        for dirpath, _dirnames, filenames in os.walk(root):
            for filename in filenames:
                path = Path(dirpath) / filename
                try:
                    stat = path.stat()
                except FileNotFoundError:
                    continue  # deleted while we walked
                report.disk_files += 1
                report.disk_bytes += stat.st_size
                name = _relative(path)
                if name in referenced:
                    continue
                if now - stat.st_mtime < grace:
                    report.recent_skipped += 1
                    continue
                report.problems.append(Problem(ORPHAN, name, f"{stat.st_size} bytes, no row "
                                                             "refers to it"))
    report.problems = [p for p in report.problems if _still_a_problem(p)]
    return report
