"""The websocket side of v2 messaging: which sockets are v2, and their frames (docs/api.md).

A socket is a v2 socket when its session is a complete login with client
custody (no server-side identity to unlock). It takes ``send2`` frames and
``sync2``, ``read2``, ``typing2``, ``ping``; it receives ``message2`` (an item of
the timeline, pushed after commit, or replayed by ``sync2``), ``read2`` (a member's
read position moved), ``typing2`` (a member is typing; a hint, at most one a second
per conversation and sender) and heartbeats with its v2 conversations' last seqs.
Functions here are synchronous: the consumer runs them on its database thread.
"""

from __future__ import annotations

from accounts.errors import Invalid, NotFound
from messaging.models import ConversationV2, MemberV2
from messaging.v2 import actions, reads, wire
from messaging.v2.access import access_v2_conversation
from messaging.v2.checks import BOX_MAX, SenderCache


def last_seqs(user) -> dict[str, int]:
    """``{conversation id: last seq}`` of the user's v2 conversations (for heartbeats)."""
    return dict(ConversationV2.objects.filter(members__user=user).values_list("pk", "last_seq"))


def send2(user, frame: dict, cache: SenderCache | None = None) -> dict:
    """Store the frame's message (as ``POST .../messages``) and return the ack frame body.
    ``cache`` is the socket's own (``SenderCache``): directory keys and access it already
    read."""
    conversation_id = frame.get("conversation")
    if not isinstance(conversation_id, str):
        raise Invalid("conversation must be a conversation id.", field="conversation")
    box = wire.bytes_field(frame, "box", BOX_MAX)
    statement, signature = wire.signed_parts(frame)
    stored = actions.do_send_message(user, conversation_id, box, statement, signature,
                                     cache=cache)
    message = stored.items[0]
    return {"type": "ack2", "conversation": conversation_id, "seq": message.seq,
            "message_hash": bytes(message.message_hash).hex(), "created": stored.created}


def sync_positions(frame: dict) -> dict[str, int]:
    """``positions`` of a ``sync2`` frame: ``{conversation id: last seq seen}`` (absent: 0)."""
    positions = frame.get("positions", {})
    if not isinstance(positions, dict) or len(positions) > 10000:
        raise Invalid("positions must map conversation ids to seqs.", field="positions")
    for key, value in positions.items():
        if (not wire.CONVERSATION_ID.match(key) or not isinstance(value, int)
                or isinstance(value, bool) or value < 0):
            raise Invalid("positions must map conversation ids to non-negative seqs.",
                          field="positions")
    return positions


def timeline_between(user, conversation_id: str, after: int, upto: int) -> list[dict]:
    """One page (at most ``reads.TIMELINE_PAGE``) of entries ``after < seq <= upto``;
    empty when the user is no longer a member."""
    try:
        conversation = access_v2_conversation(user, conversation_id)
    except NotFound:  # removed meanwhile: nothing to replay
        return []
    return reads.timeline_items(conversation, after,
                                min(upto, after + reads.TIMELINE_PAGE))


def read2(user, frame: dict) -> dict:
    """Move the read position (as ``POST .../read``); the reply names the new position."""
    conversation_id = frame.get("conversation")
    if not isinstance(conversation_id, str):
        raise Invalid("conversation must be a conversation id.", field="conversation")
    position = actions.do_mark_read(user, conversation_id, frame.get("seq"))
    return {"type": "read2", "conversation": conversation_id, "user": user.pk, "seq": position}


def typing_recipients(user, frame: dict) -> tuple[str, list[int]]:
    """``(conversation id, the other members)`` for a ``typing2`` hint (404 for a
    conversation the user is not in). Read only."""
    conversation_id = frame.get("conversation")
    if not isinstance(conversation_id, str):
        raise Invalid("conversation must be a conversation id.", field="conversation")
    conversation = access_v2_conversation(user, conversation_id)
    others = MemberV2.objects.filter(conversation=conversation).exclude(user=user)
    return conversation_id, list(others.values_list("user_id", flat=True))
