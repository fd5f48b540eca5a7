"""Replies, edits and reactions as the CLI shows them (docs/protocol.md §24, "Replies,
edits, reactions and unsends"; the browser's static/js/v2/chat/actions.js, edits.js,
reactions.js and replies.js apply the same rules).

Each names its target by the target's message hash. ``read`` lists a reply as a message
("[reply to #12] …"), an edit and a reaction as events naming the target's seq. An edit
counts only when its sender is the target's sender; any other is listed as an attempt
that changed nothing. No Django here.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .messagebox import BoxFormatError

TYPES = frozenset({"reply", "edit", "reaction"})
_SIGNED_AS_TYPE = TYPES | {"unsend"}
_HASH = re.compile(r"[0-9a-f]{64}")
MAX_EMOJI_CODE_POINTS = 16


def check(doc: dict, kind: str) -> None:
    """Refuse (BoxFormatError) a reply, edit, reaction or unsend whose signed kind is not
    its type, whose target is not a hash, or whose text or emoji is malformed."""
    if doc.get("type") not in _SIGNED_AS_TYPE and kind not in _SIGNED_AS_TYPE:
        return
    if doc.get("type") != kind:
        raise BoxFormatError("the message's kind and its content disagree")
    target = doc.get("target")
    if not isinstance(target, str) or not _HASH.fullmatch(target):
        raise BoxFormatError(f"a {kind} without a target hash")
    if kind in ("reply", "edit") and not (isinstance(doc.get("text"), str)
                                          and doc["text"].strip()):
        raise BoxFormatError(f"a {kind} without text")
    emoji = doc.get("emoji")
    if kind == "reaction" and not (isinstance(emoji, str) and (emoji == "" or (
            len(emoji) <= MAX_EMOJI_CODE_POINTS
            and not any(c.isspace() or ord(c) < 32 or 127 <= ord(c) < 160 for c in emoji)))):
        raise BoxFormatError("a reaction whose emoji is not a short string")


def describe(doc: dict, sender: int, targets: dict[str, tuple[int, int]],
             name: Callable[[int], str]) -> tuple[str | None, str | None]:
    """(text, event) of a checked reply, edit or reaction from ``sender``; ``targets``
    maps the hashes of the messages held here to (seq, sender id)."""
    found = targets.get(doc["target"])
    where = f"#{found[0]}" if found else "a message not held here"
    who = name(sender)
    if doc["type"] == "reply":
        return f"[reply to {where}] {doc['text']}", None
    if doc["type"] == "reaction":
        if doc["emoji"] == "":
            return None, f"{who} took back a reaction to {where}"
        return None, f"{who} reacted {doc['emoji']} to {where}"
    if found is not None and found[1] != sender:
        return None, (f"{who} tried to edit {name(found[1])}'s message {where} "
                      "(not applied)")
    return None, f"{who} edited {where}: {doc['text']}"
