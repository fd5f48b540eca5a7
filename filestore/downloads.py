"""``GET /api/v1/files/<upload id>``: the stored age file of an upload.

The server cannot decrypt it and does not try: it serves the bytes with
``Range`` (206/416) in constant memory, as a download that no browser will
render (attachment, octet-stream, nosniff, a sandboxing CSP). Access
is the uploader's and that of the current members of every conversation with
a message whose file claim names the upload (``filestore.references``);
anything else is 404, as for an id that does not exist.
"""

from __future__ import annotations

import asyncio
import os
import re

from asgiref.sync import sync_to_async
from django.http import StreamingHttpResponse

from accounts import stages
from accounts.api import api_view
from accounts.errors import ApiError, NotLoggedIn
from filestore import references, storage
from filestore.actions import UploadError
from filestore.models import CipherUpload

READ_BLOCK = 1024 * 1024
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "sandbox; default-src 'none'",
    "Cache-Control": "private, no-store",
}
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


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


@api_view("GET", error_headers=SECURITY_HEADERS)
async def download(request, body, upload_id: str):
    user = await request.auser()
    if not user.is_authenticated or stages.auth_stage(request.session) != stages.STAGE_DONE:
        raise NotLoggedIn()
    upload = await sync_to_async(_completed_upload)(user, upload_id)
    path = str(storage.blob_path(upload.blob_name))
    size = upload.length
    if not os.path.exists(path):
        raise UploadError(404, "not_found", "No such file.")
    try:
        wanted = parse_range(request.headers.get("Range"), size)
    except RangeNotSatisfiable:
        raise ApiError("The range is outside the file.", code="range_not_satisfiable",
                       status=416, headers={"Content-Range": f"bytes */{size}"}) from None
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
