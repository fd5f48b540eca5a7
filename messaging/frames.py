"""Client frames of the websocket protocol: parsing and field checks (docs/api.md).

``parse_frame(text)`` returns the frame (a JSON object with a string ``type``)
or raises ``BadFrame`` (the socket closes 4400). The frames' own fields are
checked in ``messaging.v2.socket``; a bad ``req_id`` is ``accounts.errors.Invalid``
(an ``error`` frame with code ``invalid``).
"""

from __future__ import annotations

import json

from accounts.errors import Invalid

REQ_ID_MAX = 64


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
