"""Seed data for the operations tests.

Version 2 (what the cutover keeps): users, conversations, messages and files made
the way a client makes them, in-process — :func:`v2_users` signs up through the
v2 API with keys made here (tests/support/v2chat.py), :func:`v2_group` creates a
conversation with signed membership operations and epochs, :func:`v2_send` seals
a text in a message box, and :func:`v2_store_file` stores an age file the
"client" encrypted (as a completed tus upload leaves it: blob, header length,
SHA-256) and sends the file message that claims it. The server only ever holds
ciphertext; texts, names and plaintext stay with the caller, so tests can look
for them afterwards.

Version 1 (until tests/ops/test_commands.py moves onto the functions above with the
version 2 commands): ``conversation``, ``send``, ``start_upload``, ``write_chunks``,
``store_file`` run v1's server-side actions; their imports are inside them, so this
module still imports once v1 is gone.
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
    """Send a text (sealed here); the server's answer (``seq`` …)."""
    response = group.send(sender, text)
    assert response.status_code == 201, response.content
    return response.json()


def v2_store_file(group: Group, sender: V2User, plaintext: bytes):
    """An age file encrypted here to a fresh one-time key, stored as a completed upload of
    ``sender`` and claimed by a file message in ``group``. Returns ``(CipherUpload,
    one-time identity)``."""
    from filestore import cipher_actions, storage
    from filestore.ciphertext import check_header
    from filestore.models import CipherUpload
    from tests.filestore.v2_support import age_file

    data, one_time = age_file(plaintext, settings.SECURECHAT_KEY_TYPE)
    upload = cipher_actions.do_create(sender.user, len(data))
    storage.blob_path(upload.blob_name).write_bytes(data)
    owner = "seed"
    assert cipher_actions.do_acquire_lease(upload.pk, owner)
    header_len = check_header(data[:4096])
    assert cipher_actions.do_complete(upload.pk, owner, header_len,
                                      hashlib.sha256(data).hexdigest())
    response = group.send_file(sender, str(upload.pk))
    assert response.status_code == 201, response.content
    assert agecrypt.decrypt(io.BytesIO(data).getvalue(), [one_time]) == plaintext
    return CipherUpload.objects.get(pk=upload.pk), one_time


# --- version 1 ---------------------------------------------------------------------------


def conversation(a, b) -> int:
    from messaging.actions import do_start_conversation

    return do_start_conversation(a.user, b.email).pk


def send(sender, conversation_id: int, text: str, client_id: str | None = None):
    from messaging.actions import do_send_message

    return do_send_message(sender.user, sender.identity_file, conversation_id, text,
                           client_id or f"c-{abs(hash(text))}")


def start_upload(sender, conversation_id: int, length: int, name: str,
                 filetype: str = "application/octet-stream"):
    from filestore.actions import do_create_upload
    from tests.filestore.helpers import metadata_header

    return do_create_upload(sender.user, sender.identity_file, str(conversation_id),
                            metadata_header(conversation_id, name, filetype), name, filetype,
                            length)


def write_chunks(sender, upload, data: bytes, chunks: int | None = None):
    """Write (and record) the first ``chunks`` chunks of ``data``, or all of them."""
    from agecrypt import CHUNK_SIZE, FileCipher
    from filestore import storage
    from filestore.models import Upload

    fc = storage.open_cipher(upload.blob_name, sender.identity_file.identities)
    total = FileCipher.chunk_count(len(data))
    chunks = total if chunks is None else chunks
    writer = storage.BlobWriter(upload.blob_name, fc, len(data))
    try:
        for index in range(chunks):
            writer.write_chunk(index, data[index * CHUNK_SIZE:(index + 1) * CHUNK_SIZE])
        writer.sync()
    finally:
        writer.close()
    if chunks < total:
        Upload.objects.filter(pk=upload.pk).update(offset=chunks * CHUNK_SIZE)
    return fc


def store_file(sender, conversation_id: int, data: bytes, name: str):
    """A complete file message with its blob, as a finished tus upload leaves it."""
    from agecrypt import CHUNK_SIZE, FileCipher
    from filestore.actions import do_complete_upload
    from filestore.models import StoredFile, Upload

    upload = start_upload(sender, conversation_id, len(data), name)
    if upload.state != Upload.State.COMPLETE:
        fc = write_chunks(sender, upload, data)
        Upload.objects.filter(pk=upload.pk).update(
            offset=(FileCipher.chunk_count(len(data)) - 1) * CHUNK_SIZE)
        upload = do_complete_upload(upload.pk, sender.identity_file, fc)
    return StoredFile.objects.get(message_id=upload.message_id)


def blob_files() -> dict[str, int]:
    """Every file under the blob store: path under MEDIA_ROOT -> size."""
    from filestore import storage

    root = storage.blob_root()
    if not root.is_dir():
        return {}
    return {p.relative_to(settings.MEDIA_ROOT).as_posix(): p.stat().st_size
            for p in root.rglob("*") if p.is_file()}
