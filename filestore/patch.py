"""One tus PATCH: store the bytes as they arrive, hash them, check the header.

Rules (DESIGN.md §6, docs/api.md "Uploads"):

- The caller holds the upload's lease; a heartbeat renews it and every write
  first checks it was not lost (423 then).
- Bytes are appended in arrival order, ``FLUSH_BYTES`` at a time, by a worker
  thread that also feeds the running SHA-256 (``hashlib`` releases the GIL).
  Every ``RECORD_BYTES`` and at the end the file is synced and then the offset
  recorded, so a kill loses at most the unrecorded tail, which the client
  resends (the next PATCH cuts the file back to the recorded offset).
- The age header is checked as soon as it has arrived, before the message
  that completes it is written; a refusal (``ciphertext.Refused``) propagates
  and the handler deletes the whole upload.
- At ``Upload-Length`` the length is checked against the header and the
  SHA-256 of the whole file recorded with the completion.
"""

from __future__ import annotations

import asyncio
import errno
import os
from dataclasses import dataclass

from asgiref.sync import sync_to_async

from filestore import actions, cipher_store, faults, lease
from filestore.actions import UploadError
from filestore.ciphertext import Refused, check_header, check_length
from filestore.metrics import UPLOAD_BYTES

FLUSH_BYTES = 1024 * 1024
RECORD_BYTES = 8 * 1024 * 1024


@dataclass
class PatchOutcome:
    offset: int
    complete: bool


def _lease_lost() -> UploadError:
    return UploadError(423, "upload_busy",
                       "This upload's lease was lost; retry with HEAD then PATCH.")


class _Sink:
    """The open blob, the write position and the running hash (used from one thread at a time)."""

    def __init__(self, fd: int, pos: int, digest):
        self.fd, self.pos, self.digest = fd, pos, digest

    def write(self, data: bytes) -> None:
        if faults.disk_full():
            # Tests: half the data reaches the file, then the disk is full.
            os.pwrite(self.fd, data[:len(data) // 2], self.pos)
            raise OSError(errno.ENOSPC, "No space left on device (test fault)")
        view = memoryview(data)
        while view:
            written = os.pwrite(self.fd, view, self.pos)
            self.pos += written
            view = view[written:]
        self.digest.update(data)

    def sync(self) -> None:
        os.fsync(self.fd)


async def _heartbeat(upload_id: str, owner: str, state: dict) -> None:
    while True:
        await asyncio.sleep(lease.HEARTBEAT_SECONDS)
        if not await sync_to_async(actions.do_renew_lease)(upload_id, owner):
            state["lost"] = True
            return


async def _open(upload):
    def run():
        fd = cipher_store.open_for_append(upload.blob_name, upload.offset)
        try:
            digest = cipher_store.running_hash(upload.pk, upload.blob_name, upload.offset)
            head = (None if upload.header_len is not None
                    else cipher_store.read_prefix(upload.blob_name, upload.offset))
        except BaseException:
            os.close(fd)
            raise
        return _Sink(fd, upload.offset, digest), head
    return await asyncio.to_thread(run)


async def run_patch(receive, upload, owner: str) -> PatchOutcome:
    """Ingest one PATCH body at the recorded offset of ``upload`` (lease held)."""
    sink, head = await _open(upload)
    state = {"lost": False, "header_len": upload.header_len, "recorded": upload.offset}
    heartbeat = asyncio.create_task(_heartbeat(upload.pk, owner, state))
    kept = False
    try:
        ended, too_long = await _receive_into(receive, upload, owner, sink, head, state)
        await asyncio.to_thread(sink.sync)
        if ended and not too_long and sink.pos == upload.length:
            await _complete(upload, owner, sink, state)
            return PatchOutcome(upload.length, True)
        await _record(upload, owner, sink, state, synced=True)
        cipher_store.keep_hash(upload.pk, sink.pos, sink.digest)
        kept = True
    finally:
        heartbeat.cancel()
        os.close(sink.fd)
        if not kept:
            cipher_store.forget_hash(upload.pk)
    if too_long:
        raise UploadError(413, "past_length",
                          "The body goes past Upload-Length; nothing beyond it was stored.")
    return PatchOutcome(sink.pos, False)


async def _receive_into(receive, upload, owner, sink: _Sink, head, state) -> tuple[bool, bool]:
    """Read the body into the blob; returns (ended cleanly, went past the length)."""
    allowed = upload.length - upload.offset
    received = 0
    pending = bytearray()
    head = None if head is None else bytearray(head)
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        body = message.get("body", b"")
        too_long = received + len(body) > allowed
        if too_long:
            body = body[:allowed - received]  # keep what fits, refuse the rest
        received += len(body)
        UPLOAD_BYTES.inc(len(body))
        if head is not None:
            head += body
            state["header_len"] = check_header(bytes(head))
            if state["header_len"] is not None:
                head = None
        pending += body
        if len(pending) >= FLUSH_BYTES:
            await _flush(upload, owner, sink, pending, state)
        if too_long:
            await _flush(upload, owner, sink, pending, state)
            return False, True
        if not message.get("more_body", False):
            await _flush(upload, owner, sink, pending, state)
            return True, False
    await _flush(upload, owner, sink, pending, state)
    return False, False


async def _flush(upload, owner, sink: _Sink, pending: bytearray, state) -> None:
    if state["lost"]:
        raise _lease_lost()
    if pending:
        data = bytes(pending)
        pending.clear()
        await asyncio.to_thread(sink.write, data)
    if sink.pos - state["recorded"] >= RECORD_BYTES:
        await _record(upload, owner, sink, state, synced=False)


async def _record(upload, owner, sink: _Sink, state, *, synced: bool) -> None:
    if not synced:
        await asyncio.to_thread(sink.sync)
    if not await sync_to_async(actions.do_record)(upload.pk, owner, sink.pos,
                                                         state["header_len"]):
        state["lost"] = True
        raise _lease_lost()
    state["recorded"] = sink.pos


async def _complete(upload, owner, sink: _Sink, state) -> None:
    """All bytes are here and synced: check the header arrived and the length, record."""
    if state["header_len"] is None:
        raise Refused(400, "bad_header", "The file ended inside its age header.")
    check_length(state["header_len"], upload.length)
    sha256 = sink.digest.hexdigest()
    if not await sync_to_async(actions.do_complete)(upload.pk, owner,
                                                           state["header_len"], sha256):
        raise _lease_lost()
