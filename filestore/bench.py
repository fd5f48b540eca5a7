"""Bench-only plain (unencrypted) upload and download endpoints (bench/files.py).

They are the baseline the encrypted tus upload and decrypting download are
compared with in the same server process: the same raw ASGI body reading and
the same async streaming response, without authentication and without
cryptography. They exist only when the server process runs with
``SECURECHAT_BENCH_PLAIN_ENDPOINTS=1`` and never in production:

- ``PUT /api/v1/uploads/_bench/plain/<name>``: the body, written as it arrives
  to ``MEDIA_ROOT/bench/<name>``; answers ``{"size": n}``.
- ``GET /api/v1/files/_bench/plain/<name>``: that file, streamed in 64 KiB reads.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from pathlib import Path

from django.conf import settings
from django.http import Http404, StreamingHttpResponse

from filestore.asgi_http import respond

ENV = "SECURECHAT_BENCH_PLAIN_ENDPOINTS"
UPLOAD_PATH = "/_bench/plain/"
READ_SIZE = 64 * 1024
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def enabled() -> bool:
    return os.environ.get(ENV) == "1" and not getattr(settings, "PRODUCTION", False)


def _path(name: str) -> Path:
    if not _NAME.match(name):
        raise ValueError("bad name")
    folder = Path(settings.MEDIA_ROOT) / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


async def plain_upload(scope, receive, send):
    try:
        path = _path(scope["path"].rsplit("/", 1)[-1])
    except ValueError:
        return await respond(send, 404)
    size = 0
    with open(path, "wb") as f:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            f.write(body)
            size += len(body)
            if not message.get("more_body", False):
                break
    await respond(send, 200, {"Content-Type": "application/json"},
                  json.dumps({"size": size}).encode())


async def _chunks(path: Path):
    with open(path, "rb") as f:
        while True:
            data = await asyncio.to_thread(f.read, READ_SIZE * 16)
            if not data:
                return
            yield data


async def plain_download(request, name: str):
    if not enabled():
        raise Http404
    try:
        path = _path(name)
    except ValueError:
        raise Http404 from None
    if not path.exists():
        raise Http404
    response = StreamingHttpResponse(_chunks(path), content_type="application/octet-stream")
    response["Content-Length"] = str(path.stat().st_size)
    return response
