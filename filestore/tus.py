"""The tus 1.0.0 upload server at ``/api/v1/uploads/`` (raw ASGI, mounted before Django).

Core protocol plus the creation, termination and expiration extensions
(docs/api.md). Django would spool request bodies to temporary files and
Channels would join them in memory, so this application reads each PATCH body
message by message and encrypts whole 64 KiB chunks as they arrive
(``filestore.patch``); no plaintext touches the disk. Authentication is the
accounts code (``filestore.auth``). A version 2 (client-custody) session is
served the ciphertext mode instead (``filestore.tus_v2``).

Under daphne (``settings.SECURECHAT_ASGI_SERVER == "daphne"``) creation and
PATCH are refused with 503: Twisted spools request bodies of 100 kB or more
to a temporary file before any application sees them.
"""

from __future__ import annotations

import logging
import sys
import time

from asgiref.sync import sync_to_async
from django.conf import settings

from accounts.errors import ApiError, send_asgi_error
from filestore import actions, bench, lease, tus_v2
from filestore.access import access_upload
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
from filestore.metadata import (
    MetadataError,
    open_upload_metadata,
    parse_upload_metadata,
    upload_fields,
)
from filestore.metrics import ACTIVE_UPLOADS
from filestore.models import Upload
from filestore.patch import run_patch

logger = logging.getLogger(__name__)

PREFIX = "/api/v1/uploads"
EXTENSIONS = "creation,termination,expiration"
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
DAPHNE_DETAIL = (
    "Uploads are refused under daphne: it writes request bodies of 100 kB or more to a "
    "temporary file before the application sees them, which would put plaintext on disk. "
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
        target = rest.strip("/")
        if caller.client_custody:
            # Version 2 sessions get the ciphertext mode; v1 below is untouched.
            return await tus_v2.dispatch(scope, receive, send, caller, method, target)
        return await route_upload(sys.modules[__name__], scope, receive, send, caller, method,
                                  target)
    except ApiError as exc:
        await send_asgi_error(send, exc, headers=tus_headers(), head=head)
    except MetadataError as exc:
        await send_asgi_error(send, ApiError(str(exc), code="bad_metadata"),
                              headers=tus_headers(), head=head)


async def create(scope, send, caller):
    if header(scope, b"upload-defer-length") is not None:
        raise UploadError(400, "bad_request", "Upload-Defer-Length is not supported.")
    length = int_header(scope, b"upload-length", "Upload-Length", required=True)
    raw_metadata = header(scope, b"upload-metadata") or ""
    conversation_id, name, filetype = upload_fields(parse_upload_metadata(raw_metadata))
    if length > settings.SECURECHAT_MAX_FILE_SIZE:
        raise UploadError(413, "file_too_large",
                          f"Files may be at most {settings.SECURECHAT_MAX_FILE_SIZE} bytes.")

    def create_sync():
        return actions.do_create_upload(caller.user, caller.identity_file, conversation_id,
                                        raw_metadata, name, filetype, length)

    upload = await sync_to_async(create_sync)()
    await respond(send, 201, tus_headers(**{
        "Location": f"{PREFIX}/{upload.pk.hex}",
        "Upload-Offset": str(upload.offset),
        "Upload-Expires": expires_header(upload),
    }))


async def _recover_if_needed(caller, upload_id, owner) -> Upload:
    """With the lease held: verify the blob if the last writer died mid-PATCH."""
    recovered = await sync_to_async(actions.do_recover_upload)(upload_id, owner,
                                                               caller.identity_file)
    if recovered.voided:
        raise UploadError(410, "upload_voided",
                          "The server stopped in the middle of a write it cannot verify; "
                          "start a new upload.")
    return recovered.upload


async def head_upload(send, caller, target):
    upload = await sync_to_async(access_upload)(caller.user, target)
    if upload.state == Upload.State.UPLOADING and upload.inflight_end is not None:
        owner = lease.owner_id()
        if await sync_to_async(actions.do_acquire_lease)(upload.pk, owner):
            try:
                upload = await _recover_if_needed(caller, upload.pk, owner)
            finally:
                await sync_to_async(actions.do_release_lease)(upload.pk, owner)
    meta = await sync_to_async(open_upload_metadata)(upload.metadata_blob,
                                                     caller.identity_file.identities)
    headers = tus_headers(**{"Upload-Offset": str(upload.offset),
                              "Upload-Length": str(upload.length)})
    if meta.get("upload_metadata"):
        headers["Upload-Metadata"] = meta["upload_metadata"]
    if upload.state == Upload.State.UPLOADING:
        headers["Upload-Expires"] = expires_header(upload)
    await respond(send, 200, headers, head=True)


async def patch_upload(scope, receive, send, caller, target):
    content_type = (header(scope, b"content-type") or "").split(";")[0].strip().lower()
    if content_type != OFFSET_CONTENT_TYPE:
        raise UploadError(415, "bad_content_type",
                          f"PATCH bodies must be Content-Type: {OFFSET_CONTENT_TYPE}.")
    client_offset = int_header(scope, b"upload-offset", "Upload-Offset", required=True)
    content_length = int_header(scope, b"content-length", "Content-Length", required=False)
    upload = await sync_to_async(access_upload)(caller.user, target)
    if upload.state == Upload.State.COMPLETE:
        if client_offset != upload.length:
            raise UploadError(409, "offset_mismatch",
                              f"Upload-Offset must be {upload.offset}.")
        if content_length:
            raise UploadError(413, "past_length", "This upload is already complete.")
        return await respond(send, 204, tus_headers(**{"Upload-Offset": str(upload.length)}))
    owner = lease.owner_id()
    local = lease.LocalLease()
    started = time.monotonic()
    if not await sync_to_async(actions.do_acquire_lease)(upload.pk, owner):
        raise UploadError(423, "upload_busy",
                          "Another request is writing to this upload; retry later.")
    local.renewed(started)
    released = False
    try:
        upload = await _recover_if_needed(caller, upload.pk, owner)
        if upload.state == Upload.State.COMPLETE or client_offset != upload.offset:
            raise UploadError(409, "offset_mismatch", f"Upload-Offset must be {upload.offset}.")
        if content_length is not None and client_offset + content_length > upload.length:
            raise UploadError(413, "past_length",
                              "The body would go past Upload-Length; nothing was stored.")
        released = True  # run_patch releases the lease itself from here on
        with ACTIVE_UPLOADS.track_inprogress():
            result = await run_patch(receive, upload, caller.identity_file, owner, local,
                                     client_offset)
    except actions.conversations.MessagingError as exc:
        raise UploadError(409, exc.code, f"The file could not be sent: {exc}") from None
    except OSError:
        logger.exception("upload %s: storage error", upload.pk)
        raise UploadError(507, "storage_error", "The server could not store the file.") from None
    finally:
        if not released:
            await sync_to_async(actions.do_release_lease)(upload.pk, owner)
    headers = tus_headers(**{"Upload-Offset": str(result.offset)})
    if not result.complete:
        fresh = await sync_to_async(Upload.objects.get)(pk=upload.pk)
        headers["Upload-Expires"] = expires_header(fresh)
    await respond(send, 204, headers)


async def delete_upload(send, caller, target):
    upload = await sync_to_async(access_upload)(caller.user, target)
    if upload.state == Upload.State.COMPLETE:
        raise UploadError(409, "upload_complete",
                          "This upload is complete; delete the file message instead.")
    owner = lease.owner_id()
    if not await sync_to_async(actions.do_acquire_lease)(upload.pk, owner):
        raise UploadError(423, "upload_busy",
                          "Another request is writing to this upload; retry later.")
    await sync_to_async(actions.do_terminate_upload)(upload.pk)
    await respond(send, 204, tus_headers())

