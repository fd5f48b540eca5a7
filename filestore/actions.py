"""Every state change of filestore (DESIGN.md §6): uploads, their leases, completion, purge.

The client encrypts; the server stores the age file it is sent. These steps
are synchronous (call them through ``sync_to_async``). Every step that follows
a write is conditioned on holding the upload's lease, so a request that lost
it (stalled past ``lease.LEASE_SECONDS`` while another took over) never
records an offset over another writer's.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.errors import ApiError
from filestore import cipher_store, lease, storage
from filestore.models import CipherUpload, FileReference
from filestore.references import release


class UploadError(ApiError):
    """A refused upload or download request: HTTP status, error code, human text."""
    def __init__(self, status: int, code: str, detail: str, **kwargs):
        super().__init__(detail, code=code, status=status, **kwargs)


def check_limits(user, length: int) -> None:
    """Maximum size, then the quota over the user's complete and active uploads (413)."""
    if length > settings.SECURECHAT_MAX_FILE_SIZE:
        raise UploadError(413, "file_too_large",
                          f"Files may be at most {settings.SECURECHAT_MAX_FILE_SIZE} bytes.")
    used = CipherUpload.objects.reserved_bytes(user)
    if used + length > settings.SECURECHAT_USER_QUOTA:
        raise UploadError(413, "quota_exceeded",
                          f"This file would exceed your storage quota of "
                          f"{settings.SECURECHAT_USER_QUOTA} bytes ({used} bytes used).")


def do_create(user, length: int) -> CipherUpload:
    """POST: limits, an empty blob, the row. The row is written last so a failure
    leaves at most an empty file the purge of orphans removes."""
    check_limits(user, length)
    upload = CipherUpload(user=user, length=length, expires_at=timezone.now() + timedelta(
        seconds=settings.SECURECHAT_UPLOAD_EXPIRY_SECONDS))
    upload.blob_name = cipher_store.blob_name_for(upload.pk)
    cipher_store.create_blob(upload.blob_name)
    upload.save(force_insert=True)
    return upload


def access(user, upload_id: str) -> CipherUpload:
    """The caller's own upload; another user's or an unknown id is 404 (reveals nothing)."""
    upload = CipherUpload.objects.filter(pk=str(upload_id), user=user).first()
    if upload is None:
        raise UploadError(404, "not_found", "No such upload.")
    if upload.is_expired():
        raise UploadError(410, "upload_expired", "This upload expired; start a new upload.")
    return upload


def do_acquire_lease(upload_id: str, owner: str) -> bool:
    """Take the write lease if free, lapsed, or held by a dead process of this host."""
    now = timezone.now()
    rows = CipherUpload.objects.filter(pk=upload_id)
    if rows.filter(lease.free_or_lapsed(now)).update(lease_owner=owner,
                                                     lease_expires=lease.expiry()):
        return True
    holder = rows.values_list("lease_owner", flat=True).first()
    if holder and holder != owner and lease.owner_is_dead_here(holder):
        return bool(rows.filter(lease_owner=holder).update(lease_owner=owner,
                                                           lease_expires=lease.expiry()))
    return False


def do_renew_lease(upload_id: str, owner: str) -> bool:
    return bool(CipherUpload.objects.filter(pk=upload_id)
                .filter(lease.held_by(owner, timezone.now()))
                .update(lease_expires=lease.expiry()))


def do_release_lease(upload_id: str, owner: str) -> None:
    CipherUpload.objects.filter(pk=upload_id, lease_owner=owner).update(
        lease_owner="", lease_expires=None)


def do_record(upload_id: str, owner: str, offset: int, header_len: int | None) -> bool:
    """After a sync: the bytes up to ``offset`` are durable. False if the lease is gone."""
    return bool(CipherUpload.objects.filter(pk=upload_id)
                .filter(lease.held_by(owner, timezone.now()))
                .update(offset=offset, header_len=header_len, lease_expires=lease.expiry()))


def do_complete(upload_id: str, owner: str, header_len: int, sha256: str) -> bool:
    return bool(CipherUpload.objects.filter(pk=upload_id, state=CipherUpload.State.UPLOADING)
                .filter(lease.held_by(owner, timezone.now()))
                .update(offset=F("length"), header_len=header_len, sha256=sha256,
                        state=CipherUpload.State.COMPLETE, completed_at=timezone.now(),
                        lease_owner="", lease_expires=None))


def is_referenced(upload_id: str) -> bool:
    return FileReference.objects.filter(upload_id=upload_id).exists()


def do_delete(upload_id: str) -> None:
    """Termination, refusal or expiry: the row, then the blob and any cached hash."""
    with transaction.atomic():
        upload = CipherUpload.objects.select_for_update().filter(pk=upload_id).first()
        if upload is None:
            return
        blob_name = upload.blob_name
        upload.delete()
    storage.delete_blob(blob_name)
    cipher_store.forget_hash(upload_id)


def do_purge_stale(now=None, *, dry_run: bool = False) -> tuple[int, int]:
    """Delete incomplete uploads past their expiry and complete ones no message claimed
    within the upload expiry after completion: ``(uploads, bytes reserved)``.

    One whose lease is held (a PATCH running right now) waits for the next run; an
    unclaimed one is re-checked under its row lock (a claim may land meanwhile).
    """
    now = now or timezone.now()
    stale = list(CipherUpload.objects.stale(now).filter(lease.free_or_lapsed(now))
                 .values_list("pk", "length"))
    unclaimed = list(CipherUpload.objects.unclaimed(now).values_list("pk", "length"))
    if dry_run:
        gone = stale + unclaimed
    else:
        for upload_id, _length in stale:
            do_delete(upload_id)
        gone = stale + [(pk, length) for pk, length in unclaimed if release(pk)]
    return len(gone), sum(length for _pk, length in gone)
