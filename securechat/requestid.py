"""One id per request (or websocket), on every log line it causes and in its response.

nginx passes ``X-Request-ID`` (its ``$request_id``); a value that is not 1–64
characters of ``A-Z a-z 0-9 . _ -`` is replaced by a fresh one (a client must
not write arbitrary text into the logs). The id lives in a context variable
for the request's whole task, which Django's and asgiref's thread hand-offs
copy, so ``RequestIdFilter`` stamps it on every record logged meanwhile; the
response carries it back in ``X-Request-ID``.
"""

from __future__ import annotations

import contextvars
import logging
import re
import uuid

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "securechat_request_id", default=None)
VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
HEADER = b"x-request-id"


def request_id_from(scope) -> str:
    """The caller's ``X-Request-ID`` when valid, else a new random id."""
    for name, value in scope.get("headers", []):
        if name == HEADER:
            text = value.decode("latin-1")
            if VALID_REQUEST_ID.fullmatch(text):
                return text
            break
    return uuid.uuid4().hex


def with_request_id(app):
    """ASGI wrapper: set the id for the request's context and return it as a header."""

    async def identified(scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await app(scope, receive, send)
        request_id = request_id_from(scope)
        # Never reset: the server logs an exception that escapes the app (and its
        # access line) after this returns, in the same task. Each request or socket
        # runs in a task of its own, so the value does not reach the next one.
        REQUEST_ID.set(request_id)

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (HEADER, request_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        await app(scope, receive, send_with_id)

    return identified


class RequestIdFilter(logging.Filter):
    """Give every record a ``request_id`` (``-`` outside a request) for the formatters."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get() or "-"
        return True
