"""One tus PATCH: read the body message by message, encrypt and write whole chunks.

Rules (DESIGN.md §6, docs/api.md):

- The caller holds the upload's lease for the whole request; a heartbeat
  renews it, and no chunk is written once the local lease deadline passes.
- Chunks are recorded in batches of ``BATCH_CHUNKS``: before any chunk past
  the recorded in-flight end is written, the chunks written so far are
  synced to disk and the database records both the new offset and the new
  in-flight range (one commit per batch, not per chunk; the next record
  starts in the background half a batch early so the writer rarely waits).
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
from filestore.metrics import UPLOAD_BYTES

logger = logging.getLogger(__name__)

BATCH_CHUNKS = 64  # 4 MiB of plaintext per recorded batch
JOB_CHUNKS = 16  # 1 MiB handed to the writer thread at a time


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
    """Ingest the body of a PATCH at ``client_offset`` (== the committed offset).

    The event loop reads the body and cuts whole chunks; a worker thread
    encrypts and writes them ``JOB_CHUNKS`` at a time (one ``pwritev``), one job
    in flight, so reading the socket overlaps with encryption and disk writes.
    The batch record (sync + database) runs in the background half a batch
    ahead, and writing never passes the recorded in-flight end.
    """
    fc = await asyncio.to_thread(storage.open_cipher, upload.blob_name,
                                 identity_file.identities)
    writer = storage.BlobWriter(upload.blob_name, fc, upload.length)
    crash = faults.crash_point()
    length = upload.length
    last_index = writer.last_index
    state = {"written": client_offset // CHUNK_SIZE,
             "recorded_end": client_offset // CHUNK_SIZE}
    queued: list[bytes] = []
    queued_first = state["written"]
    job: asyncio.Future | None = None
    record: asyncio.Task | None = None
    allowed = length - client_offset
    received = 0
    buf = bytearray()
    ended = too_long = False
    heartbeat = asyncio.create_task(_heartbeat(upload.pk, owner, local))
    clean = False

    async def record_batch(committed: int) -> None:
        await asyncio.to_thread(writer.sync)
        started = time.monotonic()
        ok = await sync_to_async(actions.do_record_batch)(
            upload.pk, owner, committed, committed + BATCH_CHUNKS)
        if not ok:
            local.lost = True
            raise _LeaseLost
        local.renewed(started)
        state["recorded_end"] = max(state["recorded_end"], committed + BATCH_CHUNKS)

    def write_job(first: int, plaintexts: list) -> None:
        if crash is not None and first <= crash.index < first + len(plaintexts):
            for i, data in enumerate(plaintexts):
                if first + i == crash.index:
                    if crash.torn:
                        writer.write_partial_for_test(first + i, data)
                    else:
                        writer.write_chunks(first + i, [data])
                    faults.crash_now()
                writer.write_chunks(first + i, [data])
            return
        writer.write_chunks(first, plaintexts)

    async def finish_job() -> None:
        nonlocal job, record
        if job is None:
            return
        count = await job
        job = None
        state["written"] += count
        if record is None and state["written"] >= state["recorded_end"] - BATCH_CHUNKS // 2:
            record = asyncio.ensure_future(record_batch(state["written"]))

    async def submit(first: int, plaintexts: list) -> None:
        nonlocal job, record
        await finish_job()
        end = first + len(plaintexts)
        if end > state["recorded_end"]:
            if record is None:
                record = asyncio.ensure_future(record_batch(state["written"]))
            await record
            record = None
        if end > state["recorded_end"]:
            record = asyncio.ensure_future(record_batch(state["written"]))
            await record
            record = None
        if not local.may_write():
            raise _LeaseLost

        def run(first=first, plaintexts=plaintexts) -> int:
            write_job(first, plaintexts)
            return len(plaintexts)

        job = asyncio.ensure_future(asyncio.to_thread(run))

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
            UPLOAD_BYTES.inc(len(body))
            buf += body
            start = 0
            next_index = queued_first + len(queued)
            while len(buf) - start >= CHUNK_SIZE and next_index < last_index:
                queued.append(bytes(buf[start:start + CHUNK_SIZE]))
                start += CHUNK_SIZE
                next_index += 1
                if len(queued) == JOB_CHUNKS:
                    await submit(queued_first, queued)
                    queued_first, queued = next_index, []
            if start:
                del buf[:start]
            if too_long:
                break
            if not message.get("more_body", False):
                ended = True
                break
        if queued:
            await submit(queued_first, queued)
            queued_first, queued = queued_first + len(queued), []
        await finish_job()
        if record is not None:
            await record
            record = None
        complete = False
        if ended and not too_long and client_offset + received == length:
            # Everything arrived: buf is exactly the final chunk.
            await submit(last_index, [bytes(buf)])
            await finish_job()
            complete = True
        if record is not None:
            await record
            record = None
        await asyncio.to_thread(writer.sync)
        clean = True
    except _LeaseLost:
        raise UploadError(423, "upload_busy",
                          "This upload's lease was lost; retry with HEAD then PATCH.") from None
    finally:
        heartbeat.cancel()
        for pending in (job, record):
            if pending is not None and not pending.done():
                await asyncio.wait([pending])
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
    committed = min(state["written"], last_index)
    await sync_to_async(actions.do_finish_patch)(upload.pk, owner, committed)
    if too_long:
        raise UploadError(413, "past_length",
                          "The body goes past Upload-Length; nothing beyond it was stored.")
    return PatchResult(committed * CHUNK_SIZE, False)
