"""Small helpers for answering raw ASGI HTTP requests (the tus application, v1 and v2)."""

from __future__ import annotations

from django.utils.http import http_date

from accounts.errors import ApiError, MethodNotAllowed

TUS_VERSION = "1.0.0"


def header(scope, name: bytes) -> str | None:
    """The first value of a request header (name lowercase), or None."""
    for key, value in scope.get("headers") or []:
        if key == name:
            return value.decode("latin-1")
    return None


async def respond(send, status: int, headers: dict[str, str] | None = None,
                  body: bytes = b"", head: bool = False) -> None:
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1"))
           for k, v in (headers or {}).items()]
    if body and not head:
        raw.append((b"content-length", str(len(body)).encode()))
    elif not head:
        raw.append((b"content-length", b"0"))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": b"" if head else body})


def tus_headers(**extra: str) -> dict[str, str]:
    """The headers every tus answer carries (uploads are never cached)."""
    return {"Tus-Resumable": TUS_VERSION, "Cache-Control": "no-store", **extra}


def expires_header(upload) -> str:
    """``Upload-Expires`` of an upload row (anything with ``expires_at``)."""
    return http_date(upload.expires_at.timestamp())


def int_header(scope, name: bytes, what: str, required: bool) -> int | None:
    """A non-negative integer header, None when absent and optional; else a 400."""
    raw = header(scope, name)
    if raw is None:
        if required:
            raise ApiError(f"{what} is required.", code="bad_request")
        return None
    raw = raw.strip()
    if not raw.isdigit() or len(raw) > 19:
        raise ApiError(f"{what} must be a non-negative integer.", code="bad_request")
    return int(raw)


async def route_upload(handlers, scope, receive, send, caller, method: str, target: str):
    """The tus routes, one table for every upload mode: ``handlers`` (a module) provides
    ``create``, ``head_upload``, ``patch_upload`` and ``delete_upload``."""
    if not target:
        if method != "POST":
            raise MethodNotAllowed(["POST", "OPTIONS"])
        return await handlers.create(scope, send, caller)
    if "/" in target:
        raise ApiError("No such upload.", code="not_found", status=404)
    if method == "HEAD":
        return await handlers.head_upload(send, caller, target)
    if method == "PATCH":
        return await handlers.patch_upload(scope, receive, send, caller, target)
    if method == "DELETE":
        return await handlers.delete_upload(send, caller, target)
    raise MethodNotAllowed(["HEAD", "PATCH", "DELETE", "OPTIONS"])
