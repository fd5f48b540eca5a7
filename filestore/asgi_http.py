"""Small helpers for answering raw ASGI HTTP requests (the tus application)."""

from __future__ import annotations


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
