"""The purge behind ``manage.py purge_expired``: expired messages and stale uploads.

It changes nothing itself: ``do_purge_expired`` runs the existing actions —
``messaging.v2.removals.do_expire_v2_messages`` (tombstones; their file
references go, which deletes every upload no message names any more, with its
blob: ``filestore.references``) and ``filestore.actions.do_purge_stale``
(expired incomplete uploads and complete ones no message claimed), as
``purge_uploads`` does. ``purge_plan`` counts the same things without
changing anything (the dry run).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Exists, OuterRef, Sum
from django.utils import timezone

from filestore.actions import do_purge_stale
from filestore.models import CipherUpload, FileReference
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


def files_to_delete(now: datetime):
    """Complete uploads that only expired messages name (they go with those messages)."""
    expired = expired_v2_messages(now)
    named = FileReference.objects.filter(upload=OuterRef("pk"))
    return (CipherUpload.objects.filter(state=CipherUpload.State.COMPLETE)
            .filter(Exists(named)).filter(~Exists(named.exclude(message__in=expired))))


def purge_plan(now: datetime | None = None) -> PurgeCounts:
    """Count what ``do_purge_expired`` would delete now; changes nothing."""
    now = now or timezone.now()
    files = files_to_delete(now)
    uploads, upload_bytes = do_purge_stale(now, dry_run=True)
    return PurgeCounts(
        messages=expired_v2_messages(now).count(),
        files=files.count(),
        file_bytes=int(files.aggregate(s=Sum("length"))["s"] or 0),
        uploads=uploads,
        upload_bytes=upload_bytes,
        dry_run=True,
    )


def do_purge_expired(now: datetime | None = None) -> PurgeCounts:
    """Tombstone expired messages (their files go with the last message naming them) and
    delete the stale uploads. Idempotent: a second run finds nothing left to do."""
    now = now or timezone.now()
    files = dict(files_to_delete(now).values_list("pk", "length"))
    messages = do_expire_v2_messages(now)
    gone = set(files) - set(CipherUpload.objects.filter(pk__in=list(files))
                            .values_list("pk", flat=True))
    uploads, upload_bytes = do_purge_stale(now)
    return PurgeCounts(
        messages=messages,
        files=len(gone),
        file_bytes=sum(files[pk] for pk in gone),
        uploads=uploads,
        upload_bytes=upload_bytes,
        dry_run=False,
    )
