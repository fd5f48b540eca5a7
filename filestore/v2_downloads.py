"""``GET /api/v1/v2/files/<upload id>``: the stored age file of a ciphertext-mode upload.

The server cannot decrypt it and does not try: it serves the bytes with
``Range`` (206/416) in constant memory, as a download that no browser will
render (attachment, octet-stream, nosniff, a sandboxing CSP). Access for now
is the uploader's and that of the current members of every conversation with
a message whose file claim names the upload (``filestore.references``);
anything else is 404, as for an id that does not exist.
"""

from __future__ import annotations

import asyncio
import os

from asgiref.sync import sync_to_async
from django.http import StreamingHttpResponse

from accounts import stages
from accounts.api import api_view
from accounts.errors import ApiError
from filestore import references, storage
from filestore.actions import UploadError
from filestore.downloads import SECURITY_HEADERS, RangeNotSatisfiable, _error, parse_range
from filestore.models import CipherUpload

READ_BLOCK = 1024 * 1024


def _completed_upload(user, upload_id: str) -> CipherUpload:
    """A complete upload the caller may download (its own, or named by a message of one of
    its conversations); anything else (unknown, unfinished, not theirs) is 404."""
    upload = references.can_download(user, upload_id)
    if upload is None:
        raise UploadError(404, "not_found", "No such file.")
    return upload


async def _range_stream(path: str, start: int, end: int):
    """Yield ``[start, end)`` of the file one block at a time, read in a thread."""
    f = open(path, "rb")  # noqa: SIM115 - closed in finally
    try:
        f.seek(start)
        remaining = end - start
        while remaining > 0:
            data = await asyncio.to_thread(f.read, min(READ_BLOCK, remaining))
            if not data:
                raise OSError("blob shorter than its record")  # cut the response
            remaining -= len(data)
            yield data
    finally:
        f.close()


@api_view("GET")
async def download(request, body, upload_id: str):
    user = await request.auser()
    if not user.is_authenticated or stages.auth_stage(request.session) != stages.STAGE_DONE:
        return _error(ApiError("Log in first.", code="not_logged_in", status=401))
    try:
        upload = await sync_to_async(_completed_upload)(user, upload_id)
    except ApiError as exc:
        return _error(exc)
    path = str(storage.blob_path(upload.blob_name))
    size = upload.length
    if not os.path.exists(path):
        return _error(UploadError(404, "not_found", "No such file."))
    try:
        wanted = parse_range(request.headers.get("Range"), size)
    except RangeNotSatisfiable:
        return _error(ApiError("The range is outside the file.", code="range_not_satisfiable",
                               status=416, headers={"Content-Range": f"bytes */{size}"}))
    start, end = wanted if wanted is not None else (0, size)
    response = StreamingHttpResponse(_range_stream(path, start, end),
                                     status=206 if wanted is not None else 200,
                                     content_type="application/octet-stream")
    response["Content-Length"] = str(end - start)
    if wanted is not None:
        response["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    response["Accept-Ranges"] = "bytes"
    response["Content-Disposition"] = f'attachment; filename="{upload.pk}.age"'
    for key, value in SECURITY_HEADERS.items():
        response[key] = value
    return response
