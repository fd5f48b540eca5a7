"""Seed data for the operations tests, made in-process by the real actions.

Messages go through ``messaging.actions.do_send_message``; files through
``filestore.actions.do_create_upload``, the upload writer
(``filestore.storage.BlobWriter``, the same code the tus PATCH runs) and
``do_complete_upload``: real age files under ``settings.MEDIA_ROOT``, real
signed file messages. Names and texts are the caller's, so tests can look for
them afterwards.
"""

from __future__ import annotations

from django.conf import settings

from agecrypt import CHUNK_SIZE, FileCipher
from filestore import storage
from filestore.actions import do_complete_upload, do_create_upload
from filestore.models import StoredFile, Upload
from messaging.actions import do_send_message, do_start_conversation
from tests.filestore.helpers import metadata_header
from tests.support.accounts import TestUser


def conversation(a: TestUser, b: TestUser) -> int:
    return do_start_conversation(a.user, b.email).pk


def send(sender: TestUser, conversation_id: int, text: str, client_id: str | None = None):
    return do_send_message(sender.user, sender.identity_file, conversation_id, text,
                           client_id or f"c-{abs(hash(text))}")


def start_upload(sender: TestUser, conversation_id: int, length: int, name: str,
                 filetype: str = "application/octet-stream") -> Upload:
    return do_create_upload(sender.user, sender.identity_file, str(conversation_id),
                            metadata_header(conversation_id, name, filetype), name, filetype,
                            length)


def write_chunks(sender: TestUser, upload: Upload, data: bytes, chunks: int | None = None):
    """Write (and record) the first ``chunks`` chunks of ``data``, or all of them."""
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


def store_file(sender: TestUser, conversation_id: int, data: bytes, name: str) -> StoredFile:
    """A complete file message with its blob, as a finished tus upload leaves it."""
    upload = start_upload(sender, conversation_id, len(data), name)
    if upload.state != Upload.State.COMPLETE:
        fc = write_chunks(sender, upload, data)
        Upload.objects.filter(pk=upload.pk).update(
            offset=(FileCipher.chunk_count(len(data)) - 1) * CHUNK_SIZE)
        upload = do_complete_upload(upload.pk, sender.identity_file, fc)
    return StoredFile.objects.get(message_id=upload.message_id)


def blob_files() -> dict[str, int]:
    """Every file under the blob store: path under MEDIA_ROOT -> size."""
    root = storage.blob_root()
    if not root.is_dir():
        return {}
    return {p.relative_to(settings.MEDIA_ROOT).as_posix(): p.stat().st_size
            for p in root.rglob("*") if p.is_file()}
