"""The websocket protocol (docs/api.md): its close codes, frame names, and the parsing
and field checks of client frames.

``parse_frame(text)`` returns the frame (a JSON object with a string ``type``)
or raises ``BadFrame`` (the socket closes 4400). The frames' own fields are
checked in ``messaging.v2.socket``; a bad ``req_id`` is ``accounts.errors.Invalid``
(an ``error`` frame with code ``invalid``).
"""

from __future__ import annotations

import json

from accounts.errors import Invalid

REQ_ID_MAX = 64

# Close codes (docs/api.md "Close codes").
CLOSE_BAD_FRAME = 4400  # not a JSON object with a string type
CLOSE_NOT_LOGGED_IN = 4401  # also logged out: accounts.events.CLOSE_LOGGED_OUT is the same
CLOSE_FORBIDDEN = 4403
CLOSE_RATE_LIMITED = 4429
CLOSE_TOO_BIG = 1009
CLOSE_BINARY = 1003

# Frames a client sends (each answered by ChatConsumer.frame_<name>) ...
CLIENT_FRAMES = frozenset({"send2", "sync2", "read2", "typing2", "ping"})
# ... and the ones the server sends.
ACK2, MESSAGE2, SYNCED2, READ2, TYPING2 = "ack2", "message2", "synced2", "read2", "typing2"
KEY_CHANGE2, HEARTBEAT, PONG, ERROR = "key_change2", "heartbeat", "pong", "error"


class BadFrame(ValueError):
    """Not a JSON object with a string ``type``."""


def parse_frame(text: str) -> dict:
    try:
        frame = json.loads(text)
    except (ValueError, RecursionError):
        raise BadFrame("Frames are JSON objects.") from None
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        raise BadFrame("Frames are JSON objects with a string type.")
    return frame


def req_id_of(frame: dict):
    """The request id to echo, if it is a short string or an integer; else None."""
    value = frame.get("req_id")
    if isinstance(value, str) and len(value) <= REQ_ID_MAX:
        return value
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**53:
        return value
    return None


def check_req_id(frame: dict) -> None:
    if "req_id" in frame and frame["req_id"] is not None and req_id_of(frame) is None:
        raise Invalid(f"req_id must be an integer or a string of at most {REQ_ID_MAX} characters.")
