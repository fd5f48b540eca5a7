"""One tus PATCH: read the body message by message, encrypt and write whole chunks.

Rules (DESIGN.md §6, docs/api-files.md):

- The caller holds the upload's lease for the whole request; a heartbeat
  renews it, and no chunk is written once the local lease deadline passes.
- Chunks are written in batches of ``BATCH_CHUNKS``: before the first chunk
  of a batch is written, the chunks before it are synced to disk and the
  database records both the new offset and the in-flight range (one commit
  per batch, not per chunk).
- Only whole 64 KiB chunks are written while the body arrives; the last
  chunk of the file (``last=True``, possibly short) is written only when the
  request body has ended cleanly and the total reached ``Upload-Length``
  exactly. A partial tail is dropped: ``Upload-Offset`` is the end of the
  whole chunks written, and the client resends from there.
- A body that would pass ``Upload-Length`` is refused (413) and nothing past
  the whole chunks before it is committed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from asgiref.sync import sync_to_async

from agecrypt import CHUNK_SIZE
from filestore import actions, faults, lease, storage
from filestore.actions import UploadError

logger = logging.getLogger(__name__)

BATCH_CHUNKS = 64  # 4 MiB of plaintext per recorded batch


@dataclass
class PatchResult:
    offset: int
    complete: bool
    upload: object = None


class _LeaseLost(Exception):
    pass


async def _heartbeat(upload_id, owner, local: lease.LocalLease) -> None:
    while True:
        await asyncio.sleep(lease.HEARTBEAT_SECONDS)
        started = time.monotonic()
        if await sync_to_async(actions.do_renew_lease)(upload_id, owner):
            local.renewed(started)
        else:
            local.lost = True
            return


async def run_patch(receive, upload, identity_file, owner: str, local: lease.LocalLease,
                    client_offset: int) -> PatchResult:
    """Ingest the body of a PATCH at ``client_offset`` (== the committed offset)."""
    fc = await asyncio.to_thread(storage.open_cipher, upload.blob_name,
                                 identity_file.identities)
    writer = storage.BlobWriter(upload.blob_name, fc, upload.length)
    crash = faults.crash_point()
    length = upload.length
    last_index = writer.last_index
    next_index = client_offset // CHUNK_SIZE
    recorded_end = next_index
    allowed = length - client_offset
    received = 0
    buf = bytearray()
    ended = too_long = False
    heartbeat = asyncio.create_task(_heartbeat(upload.pk, owner, local))
    clean = False

    async def record_batch() -> None:
        nonlocal recorded_end
        await asyncio.to_thread(writer.sync)
        started = time.monotonic()
        ok = await sync_to_async(actions.do_record_batch)(
            upload.pk, owner, next_index, next_index + BATCH_CHUNKS)
        if not ok:
            local.lost = True
            raise _LeaseLost
        local.renewed(started)
        recorded_end = next_index + BATCH_CHUNKS

    def write(index: int, data) -> None:
        if not local.may_write():
            raise _LeaseLost
        if crash is not None and crash.index == index:
            if crash.torn:
                writer.write_partial_for_test(index, bytes(data))
            else:
                writer.write_chunk(index, data)
            faults.crash_now()
        writer.write_chunk(index, data)

    try:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            body = message.get("body", b"")
            if received + len(body) > allowed:
                # Keep what fits (whole chunks of it may be committed), refuse the rest.
                too_long = True
                body = body[:allowed - received]
            received += len(body)
            buf += body
            start = 0
            while len(buf) - start >= CHUNK_SIZE and next_index < last_index:
                if next_index >= recorded_end:
                    await record_batch()
                with memoryview(buf) as view:
                    write(next_index, view[start:start + CHUNK_SIZE])
                start += CHUNK_SIZE
                next_index += 1
            if start:
                del buf[:start]
            if too_long:
                break
            if not message.get("more_body", False):
                ended = True
                break
        complete = False
        if ended and not too_long and client_offset + received == length:
            # Everything arrived: buf is exactly the final chunk.
            if next_index >= recorded_end:
                await record_batch()
            write(last_index, bytes(buf))
            next_index = last_index + 1
            complete = True
        await asyncio.to_thread(writer.sync)
        clean = True
    except _LeaseLost:
        raise UploadError(423, "upload_busy",
                          "This upload's lease was lost; retry with HEAD then PATCH.") from None
    finally:
        heartbeat.cancel()
        writer.close()
        if not clean:
            # Unknown what reached the disk: keep the in-flight record for recovery.
            await sync_to_async(actions.do_finish_patch)(upload.pk, owner, None)
    if complete:
        try:
            done = await sync_to_async(actions.do_complete_upload)(upload.pk, identity_file, fc)
        except Exception:
            # The final chunk is on disk and in the in-flight record: the next HEAD
            # or PATCH verifies it and retries the completion.
            await sync_to_async(actions.do_finish_patch)(upload.pk, owner, None)
            raise
        return PatchResult(length, True, done)
    committed = min(next_index, last_index)
    await sync_to_async(actions.do_finish_patch)(upload.pk, owner, committed)
    if too_long:
        raise UploadError(413, "past_length",
                          "The body goes past Upload-Length; nothing beyond it was stored.",
                          )
    return PatchResult(committed * CHUNK_SIZE, False)
