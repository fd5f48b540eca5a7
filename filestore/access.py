"""Authorization of filestore objects: each helper returns the object or raises."""

from __future__ import annotations

import uuid

from django.utils import timezone

from filestore.actions import UploadError
from filestore.models import Upload


def access_upload(user, upload_id) -> Upload:
    """The caller's own upload; another user's or an unknown id is a 404 (reveals nothing).

    A voided or expired upload is 410 Gone: the client starts a new upload.
    """
    try:
        key = uuid.UUID(str(upload_id))
    except ValueError:
        raise UploadError(404, "not_found", "No such upload.") from None
    upload = Upload.objects.filter(pk=key, user=user).first()
    if upload is None:
        raise UploadError(404, "not_found", "No such upload.")
    if upload.state == Upload.State.VOIDED:
        raise UploadError(410, "upload_voided",
                          "This upload cannot be resumed safely; start a new upload.")
    if upload.is_expired(timezone.now()):
        raise UploadError(410, "upload_expired", "This upload expired; start a new upload.")
    return upload


def access_stored_file(user, message_id):
    """The StoredFile of a file message the user can see (member, not deleted), or 404."""
    from filestore.conversations import NotFound, visible_message
    from filestore.models import StoredFile

    try:
        key = uuid.UUID(str(message_id))
    except ValueError:
        raise UploadError(404, "not_found", "No such file.") from None
    stored = StoredFile.objects.select_related("message").filter(message_id=key).first()
    if stored is None or stored.state != StoredFile.State.STORED:
        raise UploadError(404, "not_found", "No such file.")
    try:
        visible_message(user, stored.message.conversation_id, key)
    except NotFound:
        raise UploadError(404, "not_found", "No such file.") from None
    return stored
