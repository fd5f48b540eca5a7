"""Every state change of filestore (DESIGN.md §6): uploads, their leases, completion, purge.

Views and the tus application call these (through ``sync_to_async``); they
run synchronously, in transactions where more than one row changes.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.errors import ApiError
from agecrypt import CHUNK_SIZE
from filestore import conversations, lease, storage
from filestore.metadata import seal_upload_metadata
from filestore.models import StoredFile, Upload

logger = logging.getLogger(__name__)


class UploadError(ApiError):
    """A refused upload or download request: HTTP status, error code, human text."""

    def __init__(self, status: int, code: str, detail: str, **kwargs):
        super().__init__(detail, code=code, status=status, **kwargs)


def _expiry(now=None):
    return (now or timezone.now()) + timedelta(seconds=settings.SECURECHAT_UPLOAD_EXPIRY_SECONDS)


def check_limits(user, length: int) -> None:
    """Max file size and quota (stored files + active uploads), or a 413."""
    if length > settings.SECURECHAT_MAX_FILE_SIZE:
        raise UploadError(413, "file_too_large",
                          f"Files may be at most {settings.SECURECHAT_MAX_FILE_SIZE} bytes.")
    used = StoredFile.objects.bytes_used_by(user) + Upload.objects.reserved_bytes(user)
    if used + length > settings.SECURECHAT_USER_QUOTA:
        raise UploadError(413, "quota_exceeded",
                          f"This file would exceed your storage quota of "
                          f"{settings.SECURECHAT_USER_QUOTA} bytes ({used} bytes used).")


def do_create_upload(user, identity_file, conversation_id: str, raw_metadata: str,
                     name: str, filetype: str, length: int) -> Upload:
    """POST: check limits and access, fix the recipients, write header + nonce, record."""
    conversation, recipients = conversations.recipients_for_upload(user, identity_file,
                                                                   conversation_id)
    with transaction.atomic():
        check_limits(user, length)
        fc = storage.FileCipher.create(recipients)
        blob_name = storage.new_blob_name()
        storage.create_blob(blob_name, fc)
        try:
            upload = Upload.objects.create(
                user=user, conversation=conversation, length=length,
                blob_name=blob_name, expires_at=_expiry(),
                metadata_blob=seal_upload_metadata(raw_metadata, name, filetype,
                                                   identity_file.recipient()),
            )
        except Exception:
            storage.delete_blob(blob_name)
            raise
    if length == 0:
        # The single empty final chunk: an empty file is complete at creation.
        writer = storage.BlobWriter(blob_name, fc, 0)
        try:
            writer.write_chunk(0, b"")
            writer.sync()
        finally:
            writer.close()
        Upload.objects.filter(pk=upload.pk).update(offset=0)
        upload = do_complete_upload(upload.pk, identity_file, fc)
    return upload


# --- the lease ----------------------------------------------------------------

def do_acquire_lease(upload_id, owner: str) -> bool:
    """Take the upload's lease if it is free, lapsed, or held by a dead local process."""
    now = timezone.now()
    uploading = Upload.objects.filter(pk=upload_id, state=Upload.State.UPLOADING)
    if uploading.filter(lease.free_or_lapsed(now)).update(lease_owner=owner,
                                                          lease_expires=lease.expiry()):
        return True
    holder = uploading.values_list("lease_owner", flat=True).first()
    if holder and holder != owner and lease.owner_is_dead_here(holder):
        logger.info("upload %s: taking over the lease of a dead local process", upload_id)
        return bool(uploading.filter(lease_owner=holder).update(
            lease_owner=owner, lease_expires=lease.expiry()))
    return False


def do_renew_lease(upload_id, owner: str) -> bool:
    now = timezone.now()
    return bool(Upload.objects.filter(pk=upload_id).filter(lease.held_by(owner, now))
                .update(lease_expires=lease.expiry()))


def do_record_batch(upload_id, owner: str, committed_chunks: int, inflight_end: int) -> bool:
    """Before writing chunks ``[committed_chunks, inflight_end)``: record them and the
    offset of everything before (already written and synced). False: lease lost."""
    now = timezone.now()
    return bool(
        Upload.objects.filter(pk=upload_id).filter(lease.held_by(owner, now)).update(
            offset=committed_chunks * CHUNK_SIZE, inflight_start=committed_chunks,
            inflight_end=inflight_end, lease_expires=lease.expiry(), expires_at=_expiry(now),
        )
    )


def do_finish_patch(upload_id, owner: str, committed_chunks: int | None) -> None:
    """End of a PATCH: record the offset (written and synced), clear in-flight, release.

    ``committed_chunks`` None: keep the recorded range (the writer could not
    tell what reached the disk), so the next request verifies the blob.
    """
    fields = {"lease_owner": "", "lease_expires": None}
    if committed_chunks is not None:
        fields.update(offset=committed_chunks * CHUNK_SIZE, inflight_start=None,
                      inflight_end=None)
    Upload.objects.filter(pk=upload_id, lease_owner=owner).update(**fields)


def do_release_lease(upload_id, owner: str) -> None:
    Upload.objects.filter(pk=upload_id, lease_owner=owner).update(lease_owner="",
                                                                   lease_expires=None)


# --- recovery, voiding, completion ----------------------------------------------

def do_void_upload(upload_id, reason: str) -> None:
    """The upload cannot continue: the client starts over (new upload, new key)."""
    upload = Upload.objects.filter(pk=upload_id).first()
    if upload is None or upload.state != Upload.State.UPLOADING:
        return
    Upload.objects.filter(pk=upload_id, state=Upload.State.UPLOADING).update(
        state=Upload.State.VOIDED, void_reason=reason[:64], lease_owner="",
        lease_expires=None)
    storage.delete_blob(upload.blob_name)
    logger.warning("upload %s voided: %s", upload_id, reason)


@dataclass
class Recovered:
    upload: Upload
    voided: bool


def do_recover_upload(upload_id, owner: str, identity_file) -> Recovered:
    """Holding the lease, verify the blob of an upload whose last writer died.

    Verified chunks past the record are adopted; anything unverifiable voids
    the upload (``storage.recover``). A recovered final chunk completes it.
    """
    upload = Upload.objects.get(pk=upload_id)
    if upload.inflight_end is None:
        return Recovered(upload, False)
    fc = storage.open_cipher(upload.blob_name, identity_file.identities)
    result = storage.recover(upload.blob_name, fc, upload.length, upload.committed_chunks,
                             int(upload.inflight_end))
    if result.void_reason:
        do_void_upload(upload_id, result.void_reason)
        return Recovered(Upload.objects.get(pk=upload_id), True)
    if result.complete:
        Upload.objects.filter(pk=upload_id, lease_owner=owner).update(
            offset=(result.committed_chunks - 1) * CHUNK_SIZE, inflight_start=None,
            inflight_end=None)
        return Recovered(do_complete_upload(upload_id, identity_file, fc), False)
    Upload.objects.filter(pk=upload_id, lease_owner=owner).update(
        offset=result.committed_chunks * CHUNK_SIZE, inflight_start=None, inflight_end=None)
    return Recovered(Upload.objects.get(pk=upload_id), False)


def file_digest(fc) -> bytes:
    """SHA-256 of the age header plus the payload nonce (what the signature covers)."""
    return hashlib.sha256(fc.header_bytes + fc.nonce).digest()


def do_complete_upload(upload_id, identity_file, fc) -> Upload:
    """The final chunk is on disk and synced: the upload becomes a signed file message."""
    from filestore.metadata import open_upload_metadata

    with transaction.atomic():
        upload = Upload.objects.select_for_update().get(pk=upload_id)
        if upload.state == Upload.State.COMPLETE:
            return upload
        meta = open_upload_metadata(upload.metadata_blob, identity_file.identities)
        digest = file_digest(fc)
        message_id = conversations.send_file_message(
            upload.user, identity_file, upload.conversation_id, upload.pk.hex,
            {"name": meta["name"], "type": meta["type"]}, upload.length, digest,
        )
        StoredFile.objects.create(
            message_id=message_id, uploader=upload.user, blob_name=upload.blob_name,
            size=upload.length, ciphertext_size=fc.ciphertext_size(upload.length),
            file_digest=digest,
        )
        upload.state = Upload.State.COMPLETE
        upload.offset = upload.length
        upload.completed_at = timezone.now()
        upload.message_id = message_id
        upload.inflight_start = upload.inflight_end = None
        upload.lease_owner, upload.lease_expires = "", None
        upload.save()
    return upload


def do_terminate_upload(upload_id) -> None:
    """tus termination (DELETE), caller holds the lease: the blob and the row go."""
    upload = Upload.objects.get(pk=upload_id)
    with transaction.atomic():
        Upload.objects.filter(pk=upload_id).delete()
    storage.delete_blob(upload.blob_name)


# --- purge -----------------------------------------------------------------------

@dataclass
class PurgeReport:
    uploads: int
    bytes_reserved: int
    blobs_deleted: int


def do_purge_stale_uploads(now=None, *, dry_run: bool = False) -> PurgeReport:
    """Delete incomplete uploads past their expiry and voided ones (rows and blobs).

    An upload whose lease is still held (a PATCH running right now) is left
    for the next run. Finished uploads keep their blob (it belongs to the file
    message); their tus rows go once expired.
    """
    now = now or timezone.now()
    stale = list(Upload.objects.stale(now).filter(lease.free_or_lapsed(now)))
    report = PurgeReport(len(stale), sum(u.length for u in stale), 0)
    if dry_run:
        return report
    for upload in stale:
        deleted = Upload.objects.filter(pk=upload.pk).filter(lease.free_or_lapsed(now)).delete()
        if deleted[0] and storage.delete_blob(upload.blob_name):
            report.blobs_deleted += 1
    Upload.objects.filter(state=Upload.State.COMPLETE, expires_at__lte=now).delete()
    return report



def do_delete_stored_files(message_ids) -> int:
    """The messages were unsent or expired: their stored files and blobs go."""
    stored = list(StoredFile.objects.filter(message_id__in=list(message_ids),
                                            state=StoredFile.State.STORED))
    for item in stored:
        StoredFile.objects.filter(pk=item.pk).update(state=StoredFile.State.DELETED)
        storage.delete_blob(item.blob_name)
    return len(stored)
