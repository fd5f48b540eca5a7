"""Downloads: ``GET /api/v1/files/<message id>`` (decrypted, Range) and ``…/raw`` (age file).

The decrypting download is an async view returning a ``StreamingHttpResponse``
over an async iterator, so uvicorn streams it in constant memory with write
back-pressure. Before any header is sent: access (a member of the
conversation; a deleted message, another user's or an unknown id is 404
revealing nothing), the file message's signature (``invalid`` → 409), the
blob's header + nonce against the signed digest, and the final chunk, so the
size in ``Content-Length``/``Content-Range`` is never wrong. Then chunks are
read and decrypted in a worker thread, one block ahead of the one being sent.
A chunk that fails its tag raises inside the iterator: the server cuts the
connection and the client sees a truncated body, never a clean end.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.http import HttpResponse, StreamingHttpResponse

from accounts import unlock
from accounts.api import api_view
from accounts.errors import ApiError, error_response
from agecrypt import CHUNK_SIZE, AgeError, FileCipher
from filestore import storage
from filestore.access import access_stored_file
from filestore.actions import UploadError
from filestore.conversations import NotFound, file_message
from filestore.disposition import content_disposition, safe_content_type

logger = logging.getLogger(__name__)

BLOCK_CHUNKS = 16  # 1 MiB of plaintext per read/decrypt step
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "sandbox; default-src 'none'",
    "Cache-Control": "private, no-store",
}
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _error(exc: ApiError) -> HttpResponse:
    return error_response(exc, headers=SECURITY_HEADERS)


def _locked() -> ApiError:
    return ApiError("Log in (and unlock your keys) first.", code="locked", status=401)


class RangeNotSatisfiable(Exception):
    pass


def parse_range(value: str | None, size: int) -> tuple[int, int] | None:
    """``(start, end_exclusive)`` of a single ``bytes=`` range; None means the whole file.

    Several ranges or an unparsable header are ignored (RFC 9110 allows it);
    a range that selects nothing raises ``RangeNotSatisfiable``.
    """
    if not value:
        return None
    match = _RANGE.match(value.strip())
    if not match or (not match.group(1) and not match.group(2)):
        return None
    first, last = match.group(1), match.group(2)
    if first:
        start = int(first)
        end = size if not last else min(int(last) + 1, size)
        if last and int(last) < start:
            return None  # syntactically invalid: ignore
        if start >= size:
            raise RangeNotSatisfiable
        return start, end
    suffix = int(last)
    if suffix == 0 or size == 0:
        raise RangeNotSatisfiable
    return max(size - suffix, 0), size


@dataclass
class Plan:
    path: str
    fc: FileCipher
    total_len: int
    size: int
    name: str
    content_type: str
    signature: str


class Damaged(Exception):
    pass


def prepare(user, identity_file, message_id) -> Plan:
    """Access, signature, blob binding and final-chunk check (sync, in a thread)."""
    stored = access_stored_file(user, message_id)
    message = stored.message
    try:
        message, status, meta = file_message(user, identity_file, message.conversation_id,
                                             message.pk)
    except NotFound:
        raise UploadError(404, "not_found", "No such file.") from None
    if status == "invalid" or meta is None:
        raise UploadError(409, "signature_invalid",
                          "This file's signature does not verify; it is not served decrypted. "
                          "The stored age file is still available from /raw.")
    path = str(storage.blob_path(stored.blob_name))
    try:
        with open(path, "rb") as f:
            fc = FileCipher.open(f, identity_file.identities)
            total_len = os.fstat(f.fileno()).st_size
            digest = hashlib.sha256(fc.header_bytes + fc.nonce).digest()
            if message.file_digest is None or digest != bytes(message.file_digest):
                raise Damaged("blob does not match the signed digest")
            size = fc.plaintext_size(total_len)
            if size != message.file_size:
                raise Damaged("blob size does not match the signed size")
            # Verify the final chunk now, so the stated size is never wrong.
            for _ in fc.decrypt_range(f, max(size - 1, 0), size, total_len=total_len):
                pass
    except (AgeError, Damaged, FileNotFoundError):
        logger.warning("stored file of message %s is damaged", message.pk)
        raise UploadError(409, "file_damaged",
                          "The stored file is damaged and cannot be decrypted.") from None
    return Plan(path, fc, total_len, size, meta.get("name") or "", meta.get("type") or "",
                status)


async def decrypted_stream(plan: Plan, start: int, end: int):
    """Verified plaintext ``[start, end)``, decrypted a block ahead in a worker thread."""
    f = open(plan.path, "rb")  # noqa: SIM115 - closed in finally
    chunks = plan.fc.decrypt_range(f, start, end, total_len=plan.total_len)
    block = BLOCK_CHUNKS * CHUNK_SIZE

    def next_block() -> bytes:
        parts, n = [], 0
        for piece in chunks:
            parts.append(piece)
            n += len(piece)
            if n >= block:
                break
        return b"".join(parts)

    pending = asyncio.ensure_future(asyncio.to_thread(next_block))
    try:
        while True:
            data = await pending  # PayloadError here cuts the transfer
            if not data:
                return
            pending = asyncio.ensure_future(asyncio.to_thread(next_block))
            yield data
    except AgeError:
        logger.warning("a chunk of a stored file failed its tag; transfer aborted")
        raise
    finally:
        if not pending.done():
            await asyncio.wait([pending])
        f.close()


async def _caller(request):
    user = await request.auser()
    if not user.is_authenticated:
        return user, None
    identity_file = await sync_to_async(unlock.unlocked_identity)(request)
    return user, identity_file


@api_view("GET")
async def download(request, body, message_id: str):
    user, identity_file = await _caller(request)
    if identity_file is None:
        return _error(_locked())
    try:
        plan = await sync_to_async(prepare)(user, identity_file, message_id)
    except ApiError as exc:
        return _error(exc)
    try:
        wanted = parse_range(request.headers.get("Range"), plan.size)
    except RangeNotSatisfiable:
        return _error(ApiError("The range is outside the file.", code="range_not_satisfiable",
                               status=416, headers={"Content-Range": f"bytes */{plan.size}"}))
    start, end = wanted if wanted is not None else (0, plan.size)
    response = StreamingHttpResponse(decrypted_stream(plan, start, end),
                                     status=206 if wanted is not None else 200,
                                     content_type=safe_content_type(plan.content_type))
    response["Content-Length"] = str(end - start)
    if wanted is not None:
        response["Content-Range"] = f"bytes {start}-{end - 1}/{plan.size}"
    response["Accept-Ranges"] = "bytes"
    response["Content-Disposition"] = content_disposition(plan.name)
    response["X-SecureChat-Signature"] = plan.signature
    for key, value in SECURITY_HEADERS.items():
        response[key] = value
    return response


async def _raw_stream(path: str):
    f = open(path, "rb")  # noqa: SIM115 - closed in finally
    try:
        while True:
            data = await asyncio.to_thread(f.read, BLOCK_CHUNKS * CHUNK_SIZE)
            if not data:
                return
            yield data
    finally:
        f.close()


@api_view("GET")
async def raw(request, body, message_id: str):
    """The stored age file as it is (also when its signature fails)."""
    user, identity_file = await _caller(request)
    if identity_file is None:
        return _error(_locked())
    try:
        stored = await sync_to_async(access_stored_file)(user, message_id)
    except ApiError as exc:
        return _error(exc)
    path = str(storage.blob_path(stored.blob_name))
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        return _error(UploadError(404, "not_found", "No such file."))
    response = StreamingHttpResponse(_raw_stream(path), content_type="application/octet-stream")
    response["Content-Length"] = str(size)
    response["Content-Disposition"] = f'attachment; filename="{stored.message_id}.age"'
    for key, value in SECURITY_HEADERS.items():
        response[key] = value
    return response


