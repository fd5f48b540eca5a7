"""File messages and their uploads: linking, download access, keeping the blob.

- ``link`` (the ``messaging.signals.v2_file_claimed`` receiver) runs inside the
  send's transaction: the upload named by a verified file claim is linked to
  the new message only if it is complete and the sender created it or can
  download it now (forwarding by reference); anything else is 403 and the
  send rolls back. An unknown id answers the same 403 as another's upload.
- ``can_download``: the uploader, and the current members of any conversation
  with a message that references the upload.
- ``release`` runs after commit whenever a reference row is deleted (its
  message was deleted: unsend or expiry once version 2 has them, a
  conversation's deletion, an admin's delete). The upload and its blob are
  deleted when no reference is left. It is the hook to call for any other
  path that removes references without deleting rows through the ORM.
- The purge (``actions.do_purge_stale``) deletes complete uploads no
  message claimed within the upload expiry after completion.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q
from django.db.models.signals import post_delete

from accounts.errors import Forbidden, Invalid
from filestore import cipher_store, storage
from filestore.models import CipherUpload, FileReference
from messaging.signals import v2_file_claimed, v2_messages_tombstoned


def _may_use(user, upload: CipherUpload) -> bool:
    return upload.user_id == user.pk or FileReference.objects.filter(
        upload=upload, conversation__members__user=user).exists()


def link(sender=None, *, user, message, claim, **kwargs) -> FileReference:
    """Link ``claim``'s upload to ``message`` (inside the send's transaction) or raise."""
    upload = (CipherUpload.objects.select_for_update()
              .filter(pk=claim.upload_id_hex).first())
    if upload is None or not _may_use(user, upload):
        raise Forbidden("The file claim names an upload you neither created nor can "
                        "download.", field="file_claim.statement")
    if upload.state != CipherUpload.State.COMPLETE:
        raise Invalid("The upload the file claim names is not complete.",
                      field="file_claim.statement")
    return FileReference.objects.create(upload=upload, message=message,
                                        conversation_id=message.conversation_id)


def can_download(user, upload_id: str) -> CipherUpload | None:
    """The complete upload if ``user`` may download it, else None (the caller answers 404)."""
    if user is None or not user.is_authenticated:
        return None
    return (CipherUpload.objects
            .filter(pk=str(upload_id), state=CipherUpload.State.COMPLETE)
            .filter(Q(user=user) | Q(references__conversation__members__user=user))
            .distinct().first())


def release(upload_id: str) -> bool:
    """Delete the upload and its blob if no message references it any more (True if so).

    Only for an upload that was claimed: call it after removing references.
    The row lock keeps a concurrent forward from linking to an upload being deleted.
    """
    with transaction.atomic():
        upload = CipherUpload.objects.select_for_update().filter(pk=upload_id).first()
        if upload is None or FileReference.objects.filter(upload=upload).exists():
            return False
        blob_name = upload.blob_name
        upload.delete()
    storage.delete_blob(blob_name)
    cipher_store.forget_hash(upload_id)
    return True


def _reference_deleted(sender, instance, **kwargs) -> None:
    upload_id = instance.upload_id
    transaction.on_commit(lambda: release(upload_id))


def unlink_tombstoned(sender=None, *, message_ids=(), **kwargs) -> None:
    """The ``v2_messages_tombstoned`` receiver (inside the tombstoning transaction): the
    removed messages name no file any more; uploads left unnamed are released after
    commit (``_reference_deleted``)."""
    for reference in FileReference.objects.filter(message_id__in=list(message_ids)):
        reference.delete()  # one by one, so post_delete releases each upload


def connect() -> None:
    v2_file_claimed.connect(link, dispatch_uid="filestore-link-file-claim")
    v2_messages_tombstoned.connect(unlink_tombstoned,
                                   dispatch_uid="filestore-unlink-tombstoned-messages")
    post_delete.connect(_reference_deleted, sender=FileReference,
                        dispatch_uid="filestore-release-unreferenced-upload")
