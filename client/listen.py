"""``securechat listen``: the v2 websocket, printing verified messages as they arrive.

The socket (docs/api.md, "Websocket for a version 2 login") is ``/ws/`` with the
session cookie and the server's ``Origin``. On connect the client loads and verifies
its conversations (client.conversations), sends ``sync2`` with the last seq it
holds of each, and from then on takes ``message2`` items: a message is opened in
the loaded conversation; an operation or epoch reloads it (the chain and the
envelopes travel over HTTP and are verified there). Every item is taken once, in
seq order (``Messenger.ingest`` ignores what it already holds). A lost connection
ends the command with an error; Ctrl-C ends it cleanly.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from .conversations import Conversation, Entry, Messenger
from .errors import ApiFailure

__all__ = ["run"]

POLL_SECONDS = 0.5
MAX_FRAME = 64 * 1024  # the protocol's websocket frame limit


def _ws_url(origin: str) -> str:
    return "ws" + origin.removeprefix("http") + "/ws/"


def run(messenger: Messenger, only: str | None,
        show: Callable[[Conversation, Entry], None], *, ready: Callable[[], None] = None
        ) -> None:
    """Listen until interrupted (KeyboardInterrupt propagates to the caller)."""
    loaded: dict[str, Conversation] = {}
    for listed in messenger.list():
        if only is None or listed["id"] == only:
            loaded[listed["id"]] = messenger.load_listed(listed)
    headers = {"Origin": messenger.session.origin, "Cookie": messenger.session.cookie_header()}
    try:
        ws = connect(_ws_url(messenger.session.origin), additional_headers=headers,
                     max_size=MAX_FRAME, open_timeout=30)
    except (OSError, InvalidStatus, TimeoutError) as exc:
        raise ApiFailure("unreachable", 0, f"cannot open the websocket ({type(exc).__name__})"
                         ) from None
    with ws:
        ws.send(json.dumps({"type": "sync2",
                            "positions": {cid: c.last_seq for cid, c in loaded.items()}}))
        print(f"listening to {len(loaded) if only is None else only[:12]}"
              f"{' conversations' if only is None else ''} (Ctrl-C stops)", flush=True)
        while True:
            try:
                raw = ws.recv(timeout=POLL_SECONDS)
            except TimeoutError:
                continue
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd else "no code"
                raise ApiFailure("unreachable", 0,
                                 f"the server closed the connection ({code})") from None
            _take(messenger, loaded, only, json.loads(raw), show)


def _take(messenger: Messenger, loaded: dict[str, Conversation], only: str | None,
          frame: dict, show: Callable[[Conversation, Entry], None]) -> None:
    if frame.get("type") != "message2":
        return
    cid, item = frame.get("conversation"), frame.get("item") or {}
    if only is not None and cid != only:
        return
    conv = loaded.get(cid)
    if conv is None or item.get("type") in ("operation", "epoch"):
        before = conv.last_seq if conv is not None else 0
        conv = loaded[cid] = messenger.load(cid)
        for entry in conv.entries:
            if entry.seq > before:
                show(conv, entry)
        return
    entry = messenger.ingest(conv, item)
    if entry is not None:
        show(conv, entry)
