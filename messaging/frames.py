"""Client frames of the websocket protocol: parsing and field checks (docs/api.md).

``parse_frame(text)`` returns the frame (a JSON object with a string ``type``)
or raises ``BadFrame`` (the socket closes 4400). Field helpers raise
``messaging.errors.Invalid`` (an ``error`` frame with code ``invalid``).
"""

from __future__ import annotations

import json

from messaging.errors import Invalid

CLIENT_TYPES = {"sync", "send", "typing", "read", "accept_key", "ping"}
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


def conversation_id(frame: dict, name: str = "conversation") -> int:
    value = frame.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**62:
        raise Invalid(f"{name} must be a conversation id (a positive integer).")
    return value


def seq(frame: dict, name: str = "seq") -> int:
    value = frame.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**62:
        raise Invalid(f"{name} must be a non-negative integer.")
    return value


def since(frame: dict) -> dict[int, int]:
    """``since``: an object mapping conversation ids (as strings) to the last seq seen."""
    value = frame.get("since", {})
    if value is None:
        value = {}
    if not isinstance(value, dict) or len(value) > 10_000:
        raise Invalid("since must be an object {conversation id: last seq}.")
    result = {}
    for key, last in value.items():
        if not (isinstance(key, str) and key.isascii() and key.isdigit() and len(key) < 19):
            raise Invalid("since keys are conversation ids.")
        if isinstance(last, bool) or not isinstance(last, int) or not 0 <= last < 2**62:
            raise Invalid("since values are non-negative integers.")
        result[int(key)] = last
    return result


def string(frame: dict, name: str) -> str:
    value = frame.get(name)
    if not isinstance(value, str):
        raise Invalid(f"{name} must be a string.")
    return value
