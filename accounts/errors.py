"""The one error type of the API, and its one mapping to JSON (after Zulip's JsonableError).

Every request the server refuses is refused by raising an ``ApiError`` (or a
subclass) before anything changes. ``code`` is a stable machine-readable word,
``status`` the HTTP status, ``field`` the input it is about (forms put the
message next to that field), ``extra`` more JSON members for the client (for
example the current epoch on a 409), ``headers`` response headers (for example
``Retry-After`` or ``Allow``). The detail (``str(exc)``) is a sentence for
people.

There is one mapping to the wire format, ``{"error": code, "detail": text,
"field"?: name, **extra}``: ``error_payload``. ``error_response`` turns it into
a Django response, ``send_asgi_error`` into a raw ASGI response (the tus app
runs before Django), and the websocket consumer into an ``error`` frame. Apps
subclass ``ApiError`` for their errors and never build error JSON by hand.

This module imports no model, so every layer (middleware, the raw ASGI apps,
actions) may use it.
"""

from __future__ import annotations

import json

from django.http import JsonResponse


class ApiError(Exception):
    """A refused request: ``code``, ``status``, optional ``field``, ``extra`` and ``headers``.

    Subclasses set ``code`` and ``status`` as class attributes; a raise site may
    override either for one instance (``ApiError("…", code="x", status=409)``).
    """

    code = "bad_request"
    status = 400

    def __init__(self, detail: str, *, code: str | None = None, status: int | None = None,
                 field: str | None = None, extra: dict | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(detail)
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.field = field
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})

    @property
    def detail(self) -> str:
        return str(self)


class BadRequest(ApiError):
    """Input that cannot be understood: wrong content type, malformed or unknown fields."""

    code = "bad_request"
    status = 400


class Invalid(ApiError):
    """Well-formed input the operation refuses; ``field`` names it."""

    code = "invalid"
    status = 400


class NotLoggedIn(ApiError):
    code = "not_logged_in"
    status = 401

    def __init__(self, detail: str = "Log in first.", **kwargs):
        super().__init__(detail, **kwargs)


class Forbidden(ApiError):
    code = "forbidden"
    status = 403


class NotFound(ApiError):
    """No such object for this user (also when it exists but is not theirs)."""

    code = "not_found"
    status = 404


class Conflict(ApiError):
    """A compare-and-swap lost, or a name is taken; ``extra`` holds the current state."""

    code = "conflict"
    status = 409


class MethodNotAllowed(ApiError):
    code = "method_not_allowed"
    status = 405

    def __init__(self, allowed):
        allowed = list(allowed)
        super().__init__(f"Use {' or '.join(allowed)} here.",
                         headers={"Allow": ", ".join(allowed)})


class TooBig(ApiError):
    code = "too_big"
    status = 413


class TooManyRequests(ApiError):
    """A limit was hit; ``retry_after`` seconds (at least 1) go into ``Retry-After``."""

    code = "rate_limited"
    status = 429

    def __init__(self, detail: str, retry_after: int, **kwargs):
        self.retry_after = max(1, int(retry_after))
        headers = {"Retry-After": str(self.retry_after), **kwargs.pop("headers", {})}
        super().__init__(detail, headers=headers, **kwargs)


def seconds_phrase(seconds: int) -> str:
    """"1 second", "5 seconds": the wait, worded for people."""
    seconds = max(1, int(seconds))
    return f"{seconds} second" if seconds == 1 else f"{seconds} seconds"


def error_payload(exc: ApiError) -> dict:
    """The JSON body of an error: the only place the wire format is written."""
    payload = {"error": exc.code, "detail": str(exc)}
    if exc.field:
        payload["field"] = exc.field
    payload.update(exc.extra)
    return payload


def error_response(exc: ApiError, *, headers: dict[str, str] | None = None) -> JsonResponse:
    """``exc`` as a Django JSON response, with its headers (and ``headers`` beside them)."""
    response = JsonResponse(error_payload(exc), status=exc.status)
    for name, value in {**exc.headers, **(headers or {})}.items():
        response[name] = value
    response["Cache-Control"] = "no-store"
    return response


async def send_asgi_error(send, exc: ApiError, *, headers: dict[str, str] | None = None,
                          head: bool = False) -> None:
    """``exc`` as a raw ASGI HTTP response (for the apps that run before Django)."""
    body = b"" if head else json.dumps(error_payload(exc)).encode()
    merged = {"Content-Type": "application/json", "Cache-Control": "no-store",
              **exc.headers, **(headers or {})}
    raw = [(k.lower().encode("latin-1"), str(v).encode("latin-1")) for k, v in merged.items()]
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": exc.status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
