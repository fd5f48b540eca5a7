"""Seed data for the operations tests.

Version 2 (what the cutover keeps): users, conversations, messages and files made
the way a client makes them, in-process — :func:`v2_users` signs up through the
v2 API with keys made here (tests/support/v2chat.py), :func:`v2_group` creates a
conversation with signed membership operations and epochs, :func:`v2_send` seals
a text in a message box, and :func:`v2_store_file` stores an age file the
"client" encrypted (as a completed tus upload leaves it: blob, header length,
SHA-256) and sends the file message that claims it. The server only ever holds
ciphertext; texts, names and plaintext stay with the caller, so tests can look
for them afterwards. :func:`v2_start_upload` leaves an upload in progress
(part of a client's age file written and recorded, as a PATCH leaves it).
"""

from __future__ import annotations

import hashlib
import io

from django.conf import settings
from django.utils import timezone

import agecrypt
from tests.support.v2chat import Group, V2User, group_of


def v2_users(*names: str) -> list[V2User]:
    """Signed-up, logged-in, verified version 2 users."""
    users = [V2User.signup(name) for name in names]
    from accounts.models import User

    User.objects.filter(pk__in=[u.id for u in users]).update(email_verified_at=timezone.now())
    return users


def v2_group(*users: V2User) -> Group:
    """A group the first user created with every other one added (epochs included)."""
    return group_of(*users)


def v2_send(group: Group, sender: V2User, text: str) -> dict:
    """Send a text (sealed here); the stored message as the server answers it (``seq``,
    ``message_hash`` …)."""
    response = group.send(sender, text)
    assert response.status_code == 201, response.content
    return response.json()["items"][0]


def v2_store_file(group: Group, sender: V2User, plaintext: bytes):
    """An age file encrypted here to a fresh one-time key, stored as a completed upload of
    ``sender`` and claimed by a file message in ``group``. Returns ``(CipherUpload,
    one-time identity)``."""
    from filestore import actions, storage
    from filestore.ciphertext import check_header
    from filestore.models import CipherUpload
    from tests.filestore.v2_support import age_file

    data, one_time = age_file(plaintext, settings.SECURECHAT_KEY_TYPE)
    upload = actions.do_create(sender.user, len(data))
    storage.blob_path(upload.blob_name).write_bytes(data)
    owner = "seed"
    assert actions.do_acquire_lease(upload.pk, owner)
    header_len = check_header(data[:4096])
    assert actions.do_complete(upload.pk, owner, header_len, hashlib.sha256(data).hexdigest())
    response = group.send_file(sender, str(upload.pk))
    assert response.status_code == 201, response.content
    assert agecrypt.decrypt(io.BytesIO(data).getvalue(), [one_time]) == plaintext
    return CipherUpload.objects.get(pk=upload.pk), one_time


def v2_start_upload(sender, length: int, written: bytes = b""):
    """An upload of ``length`` bytes by ``sender`` (a ``V2User`` or ``TestUser``) in
    progress: ``written`` (the first bytes of a client's age file) on disk and recorded
    as its offset, its lease released. Returns the ``CipherUpload``."""
    from filestore import actions, storage
    from filestore.ciphertext import check_header
    from filestore.models import CipherUpload

    upload = actions.do_create(sender.user, length)
    if written:
        storage.blob_path(upload.blob_name).write_bytes(written)
        owner = "seed"
        assert actions.do_acquire_lease(upload.pk, owner)
        assert actions.do_record(upload.pk, owner, len(written), check_header(written[:4096]))
        actions.do_release_lease(upload.pk, owner)
    return CipherUpload.objects.get(pk=upload.pk)


def blob_files() -> dict[str, int]:
    """Every file under the blob store: path under MEDIA_ROOT -> size."""
    from filestore import storage

    root = storage.blob_root()
    if not root.is_dir():
        return {}
    return {p.relative_to(settings.MEDIA_ROOT).as_posix(): p.stat().st_size
            for p in root.rglob("*") if p.is_file()}
