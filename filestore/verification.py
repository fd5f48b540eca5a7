"""The storage check behind ``manage.py verify_storage`` (reads only, needs no key).

On disk, under ``MEDIA_ROOT/blobs/``:

- every upload's blob exists and has the size its row gives (the recorded
  offset at least while uploading, exactly ``length`` once complete); a
  complete one parses as age (``agecrypt.inspect``). With ``deep``, every
  complete blob is hashed in constant memory and compared with the SHA-256
  recorded while it arrived: that is what sees a flipped payload byte (bit
  rot), which no structural check can;
- every file there belongs to an upload ("orphan" otherwise; files younger
  than ``grace`` seconds are skipped: an upload's blob is made just before
  its row).

In the database, every age file kept in a column parses too: wrapped
identities and epoch envelopes.

Problems name the blob (its path under ``MEDIA_ROOT``) or the row (model and
id), never content; names exist only encrypted anyway. A problem found while
the site runs is checked once more against the database before it is
reported, so a purge or upload racing the check is not reported.
"""

from __future__ import annotations

import io
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from django.conf import settings

import agecrypt
from accounts.models import WrappedIdentity
from filestore import cipher_store, storage
from filestore.models import CipherUpload
from messaging.models import EpochV2

MISSING = "missing"
UNPARSABLE = "unparsable"
SIZE_MISMATCH = "size_mismatch"
HASH_MISMATCH = "hash_mismatch"
ORPHAN = "orphan"
BAD_PATH = "bad_path"


@dataclass
class Problem:
    kind: str
    where: str
    detail: str


@dataclass
class StorageReport:
    stored_files: int = 0  # complete uploads (the files of file messages)
    uploads: int = 0  # uploads in progress
    hashed: int = 0
    database_blobs: int = 0
    disk_files: int = 0
    disk_bytes: int = 0
    recent_skipped: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


def _problem(report: StorageReport, kind: str, upload: CipherUpload, detail: str) -> None:
    report.problems.append(Problem(kind, upload.blob_name, f"upload {upload.pk}: {detail}"))


def _check_upload(upload: CipherUpload, report: StorageReport, *, deep: bool) -> None:
    try:
        path = storage.blob_path(upload.blob_name)
    except ValueError:
        return _problem(report, BAD_PATH, upload, "blob name outside the blob store")
    if not path.is_file():
        return _problem(report, MISSING, upload, "no blob")
    size = path.stat().st_size
    complete = upload.state == CipherUpload.State.COMPLETE
    low, high = (upload.length, upload.length) if complete else (upload.offset, upload.length)
    if not low <= size <= high:
        return _problem(report, SIZE_MISMATCH, upload,
                        f"{size} bytes on disk, expected between {low} and {high}")
    if not complete:
        return None
    try:
        with open(path, "rb") as f:
            agecrypt.inspect(f, total_len=size)
    except agecrypt.AgeError as exc:
        return _problem(report, UNPARSABLE, upload, str(exc))
    if deep:
        report.hashed += 1
        if cipher_store.hash_file(path).hexdigest() != upload.sha256:
            return _problem(report, HASH_MISMATCH, upload,
                            "SHA-256 differs from the one recorded at upload (bit rot?)")
    return None


def _check_database_blob(label: str, data, report: StorageReport) -> None:
    report.database_blobs += 1
    raw = bytes(data)
    try:
        agecrypt.inspect(io.BytesIO(raw), total_len=len(raw))
    except agecrypt.AgeError as exc:
        report.problems.append(Problem(UNPARSABLE, label, str(exc)))


def _check_database(report: StorageReport) -> None:
    for pk, password_blob, recovery_blob in WrappedIdentity.objects.values_list(
            "user_id", "password_blob", "recovery_blob").iterator(chunk_size=500):
        _check_database_blob(f"password-wrapped identity of user {pk}", password_blob, report)
        _check_database_blob(f"recovery-wrapped identity of user {pk}", recovery_blob, report)
    for pk, envelope in EpochV2.objects.values_list("pk", "envelope").iterator(chunk_size=500):
        _check_database_blob(f"epoch {pk} envelope", envelope, report)


def referenced_blobs() -> set[str]:
    """Blob names a row needs now: every upload not yet deleted."""
    return set(CipherUpload.objects.values_list("blob_name", flat=True))


def _still_a_problem(problem: Problem) -> bool:
    """Re-read the database for one problem: a concurrent purge or upload explains it?"""
    if problem.kind == ORPHAN:
        return problem.where not in referenced_blobs()
    if problem.kind == MISSING:
        return CipherUpload.objects.filter(blob_name=problem.where).exists()
    return True


def _check_disk(report: StorageReport, grace: float) -> None:
    referenced = referenced_blobs()
    root = storage.blob_root()
    if not root.is_dir():
        return
    now = time.time()
    for dirpath, _dirnames, filenames in os.walk(root):
        for filename in filenames:
            path = Path(dirpath) / filename
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue  # deleted while we walked
            report.disk_files += 1
            report.disk_bytes += stat.st_size
            name = path.relative_to(Path(settings.MEDIA_ROOT)).as_posix()
            if name in referenced:
                continue
            if now - stat.st_mtime < grace:
                report.recent_skipped += 1
                continue
            report.problems.append(Problem(ORPHAN, name, f"{stat.st_size} bytes, no row "
                                                         "refers to it"))


def verify_storage(*, grace: float = 60, database: bool = True,
                   deep: bool = False) -> StorageReport:
    """Check every blob and every row that names one (see the module docstring)."""
    report = StorageReport()
    for upload in CipherUpload.objects.order_by("pk").iterator(chunk_size=200):
        if upload.state == CipherUpload.State.COMPLETE:
            report.stored_files += 1
        else:
            report.uploads += 1
        _check_upload(upload, report, deep=deep)
    if database:
        _check_database(report)
    _check_disk(report, grace)
    report.problems = [p for p in report.problems if _still_a_problem(p)]
    return report
