"""``securechat listen``: the v2 websocket, printing verified messages as they arrive.

The socket (docs/api.md, "Websocket for a version 2 login") is ``/ws/`` with the
session cookie and the server's ``Origin``. On connect the client loads and verifies
its conversations (client.conversations), sends ``sync2`` with the last seq it
holds of each, and from then on takes ``message2`` items: a message is opened in
the loaded conversation; an operation or epoch reloads it (the chain and the
envelopes travel over HTTP and are verified there). A ``key_change2`` push reloads
the conversations the user shares with that contact, so a key change is announced at
once, without waiting for a send to be refused. Every item is taken once, in
seq order (``Messenger.ingest`` ignores what it already holds). A lost connection
is reopened and resumed from the last seq taken; Ctrl-C ends it cleanly.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable

from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from .conversations import Conversation, Entry, Messenger
from .errors import ApiFailure

__all__ = ["run"]

POLL_SECONDS = 0.5
MAX_RECONNECTS = 12  # about a minute of pauses growing to MAX_PAUSE_SECONDS
MAX_PAUSE_SECONDS = 5
FINAL_CLOSE_CODES = (4401, 4403)  # an ended login, a refused socket: reconnecting cannot help
MAX_FRAME = 64 * 1024  # the protocol's websocket frame limit


def _ws_url(origin: str) -> str:
    return "ws" + origin.removeprefix("http") + "/ws/"


Show = Callable[[Conversation, Entry], None]
Alert = Callable[[Conversation, str], None]


def run(messenger: Messenger, only: str | None, show: Show, alert: Alert) -> None:
    """Listen until interrupted (KeyboardInterrupt propagates to the caller); ``show``
    prints an entry, ``alert`` a new alert of a conversation (a contact's key change).

    A lost connection is reopened (with a growing pause, for about a minute) and
    ``sync2`` resumes from the last seq taken of each conversation, so nothing is
    missed or shown twice; a close for an ended login (4401) or a refusal (4403) is
    final.
    """
    loaded: dict[str, Conversation] = {}
    for listed in messenger.list():
        if only is None or listed["id"] == only:
            loaded[listed["id"]] = messenger.load_listed(listed)
    attempts = 0
    announced = False
    while True:
        try:
            ws = _connect(messenger)
        except ApiFailure:
            attempts += 1
            if attempts > MAX_RECONNECTS:
                raise
            time.sleep(min(MAX_PAUSE_SECONDS, 0.5 * 2 ** attempts))
            continue
        with ws:
            ws.send(json.dumps({"type": "sync2", "positions": {
                cid: c.last_seq for cid, c in loaded.items()}}))
            if not announced:
                target = only[:12] if only else f"{len(loaded)} conversations"
                print(f"listening to {target} (Ctrl-C stops)", flush=True)
                announced = True
            else:
                print("reconnected", file=sys.stderr, flush=True)
            attempts = 0
            try:
                _receive(ws, messenger, loaded, only, show, alert)
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd else None
                if code in FINAL_CLOSE_CODES:
                    raise ApiFailure("closed", 0, f"the server ended the connection ({code}): "
                                     "log in again") from None
                print(f"connection lost ({code or 'no close code'}); reconnecting",
                      file=sys.stderr, flush=True)


def _connect(messenger: Messenger):
    headers = {"Origin": messenger.session.origin, "Cookie": messenger.session.cookie_header()}
    try:
        return connect(_ws_url(messenger.session.origin), additional_headers=headers,
                       max_size=MAX_FRAME, open_timeout=30)
    except (OSError, InvalidStatus, TimeoutError) as exc:
        raise ApiFailure("unreachable", 0, f"cannot open the websocket ({type(exc).__name__})"
                         ) from None


def _receive(ws, messenger: Messenger, loaded: dict[str, Conversation], only: str | None,
             show: Show, alert: Alert) -> None:
    while True:
        try:
            raw = ws.recv(timeout=POLL_SECONDS)
        except TimeoutError:
            continue
        frame = json.loads(raw)
        if frame.get("type") == "key_change2":
            _key_change(messenger, loaded, frame.get("user"), alert)
        elif frame.get("type") == "message2":
            _take(messenger, loaded, only, frame, show)


def _key_change(messenger: Messenger, loaded: dict[str, Conversation], user, alert: Alert
                ) -> None:
    """Reload every conversation shared with ``user`` (the directory's new entry is judged
    against the pins there) and report the alerts that were not there before."""
    for cid, conv in list(loaded.items()):
        if user == messenger.me.user_id or user not in conv.members:
            continue
        fresh = loaded[cid] = messenger.load(cid)
        for line in fresh.alerts:
            if line not in conv.alerts:
                alert(fresh, line)


def _take(messenger: Messenger, loaded: dict[str, Conversation], only: str | None,
          frame: dict, show: Show) -> None:
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
