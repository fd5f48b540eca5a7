"""The tus 1.0.0 upload server at ``/api/v1/uploads/`` (raw ASGI, mounted before Django).

Core protocol plus the creation, termination and expiration extensions
(DESIGN.md §6, docs/api.md "Uploads"). The client encrypts; what arrives is
the age file it made, stored as it arrives. Django would spool request bodies
to temporary files and Channels would join them in memory, so this
application reads each PATCH body message by message (``filestore.patch``).
Authentication is the accounts code (``filestore.auth``).

- POST: ``Upload-Length`` is the exact length of the age file the client
  made; a non-empty ``Upload-Metadata`` is refused (400), since a name must
  never reach the server; maximum size and quota are checked here (413); the
  id is 128 random bits.
- PATCH: one at a time per upload (423); bytes are stored as they arrive,
  with no key and no encryption; a header that is not one stanza of this
  deployment's key type is refused (415 not age, 400 otherwise) and the
  upload deleted; a full disk answers 507 and the upload stays resumable from
  its recorded offset.
- HEAD reports the recorded offset; an expired upload is 410; DELETE
  (termination) also of a complete upload while no message names it (409
  once one does).

Under daphne (``settings.SECURECHAT_ASGI_SERVER == "daphne"``) creation and
PATCH are refused with 503: Twisted spools request bodies of 100 kB or more
to a temporary file before any application sees them.
"""

from __future__ import annotations

import logging
import sys

from asgiref.sync import sync_to_async
from django.conf import settings

from accounts.errors import ApiError, send_asgi_error
from filestore import actions, bench, lease
from filestore.actions import UploadError
from filestore.asgi_http import (
    TUS_VERSION,
    expires_header,
    header,
    int_header,
    respond,
    route_upload,
    tus_headers,
)
from filestore.auth import authenticate
from filestore.ciphertext import SMALLEST_FILE, Refused
from filestore.metrics import ACTIVE_UPLOADS
from filestore.models import CipherUpload
from filestore.patch import run_patch

logger = logging.getLogger(__name__)

PREFIX = "/api/v1/uploads"
EXTENSIONS = "creation,termination,expiration"
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
DAPHNE_DETAIL = (
    "Uploads are refused under daphne: it reads whole request bodies (spooling those of "
    "100 kB or more to a temporary file) before the application sees them. "
    "Serve SecureChat with uvicorn (make run; docs/operations.md)."
)


async def application(scope, receive, send):
    if scope["type"] != "http":
        return
    method = scope["method"]
    rest = scope["path"][len(PREFIX):]
    head = method == "HEAD"
    if bench.enabled() and rest.startswith(bench.UPLOAD_PATH):
        return await bench.plain_upload(scope, receive, send)
    try:
        if method == "OPTIONS":
            return await respond(send, 204, {
                "Tus-Resumable": TUS_VERSION, "Tus-Version": TUS_VERSION,
                "Tus-Extension": EXTENSIONS,
                "Tus-Max-Size": str(settings.SECURECHAT_MAX_FILE_SIZE),
            })
        if header(scope, b"tus-resumable") != TUS_VERSION:
            raise UploadError(412, "unsupported_version", "Send Tus-Resumable: 1.0.0.",
                              headers={"Tus-Version": TUS_VERSION})
        if settings.SECURECHAT_ASGI_SERVER == "daphne" and method in {"POST", "PATCH"}:
            raise UploadError(503, "uploads_unavailable_under_daphne", DAPHNE_DETAIL)
        caller = await sync_to_async(authenticate)(scope)
        await route_upload(sys.modules[__name__], scope, receive, send, caller, method,
                           rest.strip("/"))
    except ApiError as exc:
        await send_asgi_error(send, exc, headers=tus_headers(), head=head)


async def create(scope, send, caller):
    if header(scope, b"upload-defer-length") is not None:
        raise UploadError(400, "bad_request", "Upload-Defer-Length is not supported.")
    if (header(scope, b"upload-metadata") or "").strip():
        # Any pair is refused, whatever its key: a file name must never reach the
        # server in v2. An empty header carries nothing (tuspy always sends one).
        raise UploadError(400, "metadata_refused",
                          "Upload-Metadata is not accepted: names and types travel "
                          "encrypted inside the file message.")
    length = int_header(scope, b"upload-length", "Upload-Length", required=True)
    if length < SMALLEST_FILE:
        raise UploadError(400, "bad_request", "Upload-Length is shorter than any age file.")
    upload = await sync_to_async(actions.do_create)(caller.user, length)
    await respond(send, 201, tus_headers(**{
        "Location": f"{PREFIX}/{upload.pk}", "Upload-Offset": "0",
        "Upload-Expires": expires_header(upload)}))


async def head_upload(send, caller, target):
    upload = await sync_to_async(actions.access)(caller.user, target)
    headers = tus_headers(**{"Upload-Offset": str(upload.offset),
                              "Upload-Length": str(upload.length)})
    if upload.state == CipherUpload.State.UPLOADING:
        headers["Upload-Expires"] = expires_header(upload)
    await respond(send, 200, headers, head=True)


async def patch_upload(scope, receive, send, caller, target):
    content_type = (header(scope, b"content-type") or "").split(";")[0].strip().lower()
    if content_type != OFFSET_CONTENT_TYPE:
        raise UploadError(415, "bad_content_type",
                          f"PATCH bodies must be Content-Type: {OFFSET_CONTENT_TYPE}.")
    client_offset = int_header(scope, b"upload-offset", "Upload-Offset", required=True)
    content_length = int_header(scope, b"content-length", "Content-Length", required=False)
    upload = await sync_to_async(actions.access)(caller.user, target)
    if upload.state == CipherUpload.State.COMPLETE:
        if client_offset != upload.length:
            raise UploadError(409, "offset_mismatch", f"Upload-Offset must be {upload.offset}.")
        if content_length:
            raise UploadError(413, "past_length", "This upload is already complete.")
        return await respond(send, 204, tus_headers(**{"Upload-Offset": str(upload.length)}))
    owner = lease.owner_id()
    if not await sync_to_async(actions.do_acquire_lease)(upload.pk, owner):
        raise UploadError(423, "upload_busy",
                          "Another request is writing to this upload; retry later.")
    try:
        outcome = await _patch_with_lease(receive, upload.pk, owner, client_offset,
                                          content_length)
    finally:
        await sync_to_async(actions.do_release_lease)(upload.pk, owner)
    headers = tus_headers(**{"Upload-Offset": str(outcome.offset)})
    if not outcome.complete:
        headers["Upload-Expires"] = expires_header(upload)
    await respond(send, 204, headers)


async def _patch_with_lease(receive, upload_id, owner, client_offset, content_length):
    """With the lease: re-read the record, check offset and length, run; map failures."""
    upload = await sync_to_async(CipherUpload.objects.get)(pk=upload_id)
    if upload.state == CipherUpload.State.COMPLETE or client_offset != upload.offset:
        raise UploadError(409, "offset_mismatch", f"Upload-Offset must be {upload.offset}.")
    if content_length is not None and client_offset + content_length > upload.length:
        raise UploadError(413, "past_length",
                          "The body would go past Upload-Length; nothing was stored.")
    try:
        with ACTIVE_UPLOADS.track_inprogress():
            return await run_patch(receive, upload, owner)
    except Refused as exc:
        # Not an age file of this deployment's shape: nothing of it is kept.
        await sync_to_async(actions.do_delete)(upload.pk)
        raise UploadError(exc.status, exc.code, exc.detail) from None
    except OSError:
        # The recorded offset stays valid (synced before it was recorded): resumable.
        logger.exception("upload %s: storage error", upload.pk)
        raise UploadError(507, "storage_error",
                          "The server could not store the data; retry later.") from None


async def delete_upload(send, caller, target):
    upload = await sync_to_async(actions.access)(caller.user, target)
    # A complete upload may be terminated too, to free the quota it holds, while no
    # message names it; once one does, it lives as long as its messages (409).
    if await sync_to_async(actions.is_referenced)(upload.pk):
        raise UploadError(409, "upload_referenced",
                          "A message names this upload; it is deleted with its last message.")
    owner = lease.owner_id()
    if not await sync_to_async(actions.do_acquire_lease)(upload.pk, owner):
        raise UploadError(423, "upload_busy",
                          "Another request is writing to this upload; retry later.")
    await sync_to_async(actions.do_delete)(upload.pk)
    await respond(send, 204, tus_headers())
