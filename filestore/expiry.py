"""The purge behind ``manage.py purge_expired``: expired messages, their files, stale uploads.

It changes nothing itself: ``do_purge_expired`` runs the existing actions —
``messaging.v2.removals.do_expire_v2_messages`` (v2 tombstones; their file references
go, which releases uploads no message names any more),
``messaging.actions.do_expire_messages`` (tombstones; the ciphertext goes, and
its after-commit signal deletes the file blobs through
``filestore.actions.do_delete_stored_files``), ``do_delete_stored_files`` again
for files whose message was tombstoned but whose blob a crash left behind,
and ``filestore.actions.do_purge_stale_uploads`` with its version 2 counterpart
``filestore.cipher_actions.do_purge_stale`` (expired incomplete uploads and
complete ones no message claimed), as ``purge_uploads`` does. ``purge_plan`` counts the
same things without changing anything (the dry run).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q, Sum
from django.utils import timezone

from filestore.actions import do_delete_stored_files, do_purge_stale_uploads
from filestore.cipher_actions import do_purge_stale
from filestore.models import StoredFile
from messaging.actions import do_expire_messages
from messaging.models import Conversation, Message
from messaging.v2.removals import do_expire_v2_messages, expired_v2_messages


@dataclass
class PurgeCounts:
    """What a purge deletes (``dry_run``: what it would delete)."""

    messages: int
    files: int
    file_bytes: int
    uploads: int
    upload_bytes: int
    dry_run: bool


def expired_messages(now: datetime):
    """Alive messages older than their conversation's expiry (counted from send time)."""
    condition = Q(pk__in=[])
    for pk, seconds in (Conversation.objects.filter(expiry_seconds__isnull=False)
                        .values_list("pk", "expiry_seconds")):
        condition |= Q(conversation_id=pk, sent_at__lte=now - timedelta(seconds=seconds))
    return Message.objects.alive().filter(condition)


def files_to_delete(now: datetime):
    """Stored files of expired messages, and of tombstoned ones whose blob is still kept."""
    return StoredFile.objects.filter(state=StoredFile.State.STORED).filter(
        Q(message__in=expired_messages(now)) | Q(message__deleted_at__isnull=False))


def purge_plan(now: datetime | None = None) -> PurgeCounts:
    """Count what ``do_purge_expired`` would delete now; changes nothing."""
    now = now or timezone.now()
    files = files_to_delete(now)
    uploads = do_purge_stale_uploads(now, dry_run=True)
    v2_uploads, v2_bytes = do_purge_stale(now, dry_run=True)
    return PurgeCounts(
        messages=expired_messages(now).count() + expired_v2_messages(now).count(),
        files=files.count(),
        file_bytes=int(files.aggregate(s=Sum("size"))["s"] or 0),
        uploads=uploads.uploads + v2_uploads,
        upload_bytes=uploads.bytes_reserved + v2_bytes,
        dry_run=True,
    )


def do_purge_expired(now: datetime | None = None) -> PurgeCounts:
    """Tombstone expired messages, delete their files' blobs and the stale uploads.

    Idempotent: a second run finds nothing left to do.
    """
    now = now or timezone.now()
    files = list(files_to_delete(now).values_list("pk", "size"))
    messages = do_expire_messages(now) + do_expire_v2_messages(now)
    leftover = StoredFile.objects.filter(state=StoredFile.State.STORED,
                                         message__deleted_at__isnull=False)
    do_delete_stored_files(leftover.values_list("message_id", flat=True))
    deleted = set(StoredFile.objects.filter(pk__in=[pk for pk, _ in files],
                                            state=StoredFile.State.DELETED)
                  .values_list("pk", flat=True))
    uploads = do_purge_stale_uploads(now)
    v2_uploads, v2_bytes = do_purge_stale(now)
    return PurgeCounts(
        messages=messages,
        files=len(deleted),
        file_bytes=sum(size for pk, size in files if pk in deleted),
        uploads=uploads.uploads + v2_uploads,
        upload_bytes=uploads.bytes_reserved + v2_bytes,
        dry_run=False,
    )
