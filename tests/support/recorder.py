"""The DESIGN.md §9 recorder: every byte that crosses the ASGI boundary of a live server.

``application`` wraps ``securechat.asgi.application`` — the outermost ASGI
callable, outside the request id, the metrics, the body-size guard, the tus
app, Django and the websocket routing — so nothing any of them sees escapes the
record. It is used only by tests: ``LiveServer(record=True)`` serves
``tests.support.recorder:application`` (``daphne_application`` for daphne)
and names the record file in ``SECURECHAT_TEST_RECORD_FILE``. With the
variable unset the wrapper refuses to start, so it cannot run by accident.

The record is JSON lines, one per event, appended and closed at once (the
server never holds the file open, so the open-files probe does not read the
record back as a leak)::

    {"conn": "PID.RECORDER.7", "event": "scope", "type": "http", "method": "POST",
     "path": …, "raw_path": b64, "query_string": b64, "headers": [[b64, b64], …]}
    {"conn": "PID.RECORDER.7", "event": "receive", "message": {"type": "http.request", …}}
    {"conn": "PID.RECORDER.7", "event": "send", "message": {"type": "http.response.start", …}}

Every ``bytes`` value is base64 (``{"b64": …}``); every other value is kept
as JSON, or its ``repr``. :func:`read_record` gives the events back with bytes
restored; :func:`conversations` regroups them per connection (request body,
response body, each websocket frame), which is what the probes search, since a
secret may be split across the chunks of one body.

What the record cannot hold: bytes the server's transport buffered but no
application ever asked for (a body refused before it was read, as the
body-size guard refuses by ``Content-Length``) — they reached no code of ours.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RECORD_ENV = "SECURECHAT_TEST_RECORD_FILE"

Scope = dict[str, Any]
Message = dict[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
                   Awaitable[None]]


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return {"b64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return {"repr": repr(value)}


def _restored(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"b64"}:
            return base64.b64decode(value["b64"])
        return {k: _restored(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_restored(v) for v in value]
    return value


class Recorder:
    """ASGI middleware appending every scope and message, both ways, to ``path``."""

    SCOPE_KEYS = ("type", "http_version", "method", "scheme", "path", "raw_path",
                  "query_string", "root_path", "headers", "subprotocols", "client", "server")

    def __init__(self, app: ASGIApp, path: str | os.PathLike) -> None:
        self.app, self.path = app, Path(path)
        self._ids = itertools.count(1)

    def _write(self, event: dict) -> None:
        line = json.dumps(_jsonable(event), separators=(",", ":")).encode() + b"\n"
        # One write on an O_APPEND descriptor, closed at once: flushed, never held open.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    async def __call__(self, scope: Scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        # Unique across processes and recorders: a restarted server appends to the same file.
        conn = f"{os.getpid()}.{id(self):x}.{next(self._ids)}"
        self._write({"conn": conn, "event": "scope",
                     **{k: scope[k] for k in self.SCOPE_KEYS if k in scope}})

        async def recorded_receive() -> Message:
            message = await receive()
            self._write({"conn": conn, "event": "receive", "message": message})
            return message

        async def recorded_send(message: Message) -> None:
            self._write({"conn": conn, "event": "send", "message": message})
            await send(message)

        await self.app(scope, recorded_receive, recorded_send)


def read_record(path: str | os.PathLike) -> list[dict]:
    """Every event of a record file, bytes restored, in the order they were written."""
    text = Path(path).read_text() if Path(path).exists() else ""
    return [_restored(json.loads(line)) for line in text.splitlines() if line]


@dataclass
class RecordedConnection:
    """One connection as the server saw it: what came in and what went out."""

    conn: str
    scope: dict
    request_body: bytearray = field(default_factory=bytearray)
    response_body: bytearray = field(default_factory=bytearray)
    response_headers: list = field(default_factory=list)
    frames_in: list = field(default_factory=list)   # websocket frames, bytes or str
    frames_out: list = field(default_factory=list)
    other: list = field(default_factory=list)       # every other message, as recorded

    @property
    def label(self) -> str:
        if self.scope.get("type") == "websocket":
            return f"websocket {self.scope.get('path')}"
        return f"{self.scope.get('method')} {self.scope.get('path')}"

    def pieces(self) -> list[tuple[str, bytes]]:
        """``(where, bytes)`` for every part a probe searches, request line to last frame."""
        scope = self.scope
        out = [("request path", (scope.get("raw_path") or scope.get("path", "").encode())),
               ("request query", scope.get("query_string", b"")),
               ("request body", bytes(self.request_body)),
               ("response body", bytes(self.response_body))]
        out += [(f"request header {bytes(n).decode('latin-1')}", bytes(v))
                for n, v in scope.get("headers", [])]
        out += [(f"response header {bytes(n).decode('latin-1')}", bytes(v))
                for n, v in self.response_headers]
        out += [(f"ws frame in #{i}", _frame_bytes(f)) for i, f in enumerate(self.frames_in)]
        out += [(f"ws frame out #{i}", _frame_bytes(f)) for i, f in enumerate(self.frames_out)]
        out += [(f"message {m.get('type')}", json.dumps(_jsonable(m)).encode())
                for m in self.other]
        return out


def _frame_bytes(frame: bytes | str) -> bytes:
    return frame.encode("utf-8") if isinstance(frame, str) else bytes(frame)


def conversations(events: list[dict]) -> list[RecordedConnection]:
    """The record regrouped per connection (bodies reassembled from their chunks)."""
    by_conn: dict[str, RecordedConnection] = {}
    for event in events:
        conn = event["conn"]
        if event["event"] == "scope":
            by_conn[conn] = RecordedConnection(conn, event)
            continue
        conv, message = by_conn[conn], event["message"]
        kind = message.get("type", "")
        if kind == "http.request":
            conv.request_body += message.get("body", b"")
        elif kind == "http.response.body":
            conv.response_body += message.get("body", b"")
        elif kind in ("http.response.start", "websocket.http.response.start"):
            conv.response_headers += message.get("headers", [])
        elif kind == "websocket.http.response.body":
            conv.response_body += message.get("body", b"")
        elif kind == "websocket.accept":
            conv.response_headers += message.get("headers", [])
        elif kind in ("websocket.receive", "websocket.send"):
            frame = message.get("bytes") if message.get("bytes") is not None else message.get(
                "text")
            (conv.frames_in if kind == "websocket.receive" else conv.frames_out).append(
                frame if frame is not None else b"")
        else:
            conv.other.append(message)
    return list(by_conn.values())


def _record_path() -> str:
    path = os.environ.get(RECORD_ENV)
    if not path:
        raise RuntimeError(f"{RECORD_ENV} is not set: the recorder runs only in tests")
    return path


def __getattr__(name: str) -> Recorder:
    # Built on first use: importing this module (for read_record) must not set Django up.
    if name == "application":
        path = _record_path()
        from securechat.asgi import application as app

        return Recorder(app, path)
    if name == "daphne_application":
        path = _record_path()
        from securechat.asgi_daphne import application as app

        return Recorder(app, path)
    raise AttributeError(name)
