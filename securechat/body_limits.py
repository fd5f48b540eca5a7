"""Request bodies refused before they are spooled (issue 17, "bodies are refused before they
are spooled").

Django's ASGI handler reads a request's whole body into a temporary file that goes to disk
past ``FILE_UPLOAD_MAX_MEMORY_SIZE``, before any middleware or view runs; so a 40 MiB POST
to the login endpoint, without a session or a token, used to be written to ``/tmp`` before
its 403. ``BodySizeGuard`` wraps the Django application (securechat/asgi.py; the tus upload
application streams its own bodies and is routed before it):

- a ``Content-Length`` over the route's limit is answered 413 at once, nothing read;
- otherwise the body is read here, message by message, and answered 413 as soon as it goes
  over the limit (a chunked body declares no length);
- a body within the limit is handed to Django in one message, from memory. Settings make
  ``FILE_UPLOAD_MAX_MEMORY_SIZE`` at least the largest limit, so Django never rolls it
  over to a file either.

Limits per route are one table, ``settings.SECURECHAT_BODY_LIMITS``: path regular
expressions to bytes, and ``"default"`` for every other route.
"""

from __future__ import annotations

import re
from functools import lru_cache

from django.conf import settings

from accounts.errors import TooBig, send_asgi_error


@lru_cache(maxsize=8)
def _compiled(table: tuple[tuple[str, int], ...]) -> tuple[int, list[tuple[re.Pattern, int]]]:
    routes = [(re.compile(pattern), limit) for pattern, limit in table if pattern != "default"]
    return dict(table)["default"], routes


def body_limit_for(path: str) -> int:
    """The most bytes a request body to ``path`` may have (the table's first match, or default)."""
    default, routes = _compiled(tuple(settings.SECURECHAT_BODY_LIMITS.items()))
    for pattern, limit in routes:
        if pattern.match(path):
            return limit
    return default


def declared_length(scope) -> int | None:
    """The request's ``Content-Length`` as a number, or None (absent or not a number)."""
    for name, value in scope.get("headers") or []:
        if name == b"content-length":
            value = value.strip()
            return int(value) if value.isdigit() else None
    return None


async def refuse_too_big(send, limit: int) -> None:
    # Connection: close, so the server does not wait for (or read) the rest of the body.
    await send_asgi_error(
        send, TooBig(f"Request bodies here may be at most {limit} bytes.",
                     extra={"limit": limit}),
        headers={"Connection": "close"})


class BodySizeGuard:
    """ASGI middleware: HTTP bodies over the route's limit get 413 ``too_big`` before Django."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.application(scope, receive, send)
        limit = body_limit_for(scope.get("path", ""))
        declared = declared_length(scope)
        if declared is not None and declared > limit:
            return await refuse_too_big(send, limit)
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left: nobody to answer
            body += message.get("body", b"")
            if len(body) > limit:
                return await refuse_too_big(send, limit)
            if not message.get("more_body", False):
                break
        return await self.application(scope, replay_then(bytes(body), receive), send)


def replay_then(body: bytes, receive):
    """A ``receive`` that gives ``body`` as one message, then the real ``receive``'s messages
    (Django listens for the disconnect after reading the body)."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replaying_receive():
        if pending:
            return pending.pop()
        return await receive()

    return replaying_receive
