"""JSON in and out for v2 messaging: bytes travel as standard base64, ids and hashes as hex.

Inputs are refused with a 400 naming the field (``Invalid``); outputs are
plain dicts ready for ``JsonResponse`` or a channel-layer event.
"""

from __future__ import annotations

import base64
import binascii
import re

from accounts.errors import Invalid

CONVERSATION_ID = re.compile(r"^[0-9a-f]{32}$")
SIGNATURE_BYTES = 64
STATEMENT_MAX = 64 * 1024  # an epoch statement with 100 members is about 8 KiB


def b64(data) -> str:
    return base64.b64encode(bytes(data)).decode("ascii")


def ms(when) -> int:
    return int(when.timestamp() * 1000)


def conversation_id_field(value, field: str = "conversation_id") -> str:
    """The 32 lowercase hex digits of a 128-bit id, or 400 naming ``field``."""
    if not isinstance(value, str) or not CONVERSATION_ID.match(value):
        raise Invalid(f"{field} must be 32 lowercase hex digits (128 bits).", field=field)
    return value


def bytes_field(container: dict, name: str, max_bytes: int, *, prefix: str = "") -> bytes:
    """``container[name]`` decoded from standard base64, 1 to ``max_bytes`` bytes."""
    label = prefix + name
    value = container.get(name) if isinstance(container, dict) else None
    if not isinstance(value, str) or not value or len(value) > (max_bytes + 2) // 3 * 4:
        raise Invalid(f"{label} must be base64 of 1 to {max_bytes} bytes.", field=label)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise Invalid(f"{label} is not valid base64.", field=label) from None


def object_field(body: dict, name: str, keys: set[str]) -> dict:
    """``body[name]`` as a JSON object holding exactly ``keys``, or 400 naming the field."""
    value = body.get(name)
    if not isinstance(value, dict):
        raise Invalid(f"{name} must be an object with {', '.join(sorted(keys))}.", field=name)
    if set(value) != keys:
        wrong = sorted(set(value) ^ keys)
        raise Invalid(f"{name} must hold exactly {', '.join(sorted(keys))}.",
                      field=f"{name}.{wrong[0]}")
    return value


def signed_parts(container: dict, *, prefix: str = "") -> tuple[bytes, bytes]:
    """``(statement, signature)`` of a signed object."""
    statement = bytes_field(container, "statement", STATEMENT_MAX, prefix=prefix)
    signature = bytes_field(container, "signature", SIGNATURE_BYTES, prefix=prefix)
    if len(signature) != SIGNATURE_BYTES:
        raise Invalid(f"{prefix}signature must be 64 bytes.", field=prefix + "signature")
    return statement, signature


def after_param(request, name: str = "after") -> int:
    """A non-negative integer query parameter (0 when absent), or 400 naming it."""
    raw = request.GET.get(name, "0")
    if not raw.isdigit() or len(raw) > 18:
        raise Invalid(f"{name} must be a non-negative integer.", field=name)
    return int(raw)


def operation_json(op) -> dict:
    return {"type": "operation", "seq": op.seq, "index": op.index, "kind": op.kind,
            "actor": op.actor_id, "op_hash": bytes(op.op_hash).hex(),
            "statement": b64(op.statement), "signature": b64(op.signature),
            "server_time": ms(op.server_time)}


def epoch_announcement_json(epoch) -> dict:
    """An epoch in the timeline: its name only (the envelope travels over /epochs)."""
    return {"type": "epoch", "seq": epoch.seq, "number": epoch.number,
            "envelope_hash": bytes(epoch.envelope_hash).hex(), "creator": epoch.creator_id,
            "server_time": ms(epoch.server_time)}


def epoch_json(epoch) -> dict:
    return {**epoch_announcement_json(epoch), "envelope": b64(epoch.envelope),
            "statement": b64(epoch.statement), "signature": b64(epoch.signature)}


def message_json(message, expired_before=None) -> dict:
    """A stored message; a tombstone when it was removed, or when it was sent at or before
    ``expired_before`` (the conversation's expiry, ahead of the purge)."""
    if message.removed_at is not None:
        return tombstone_json(message, message.removed_reason)
    if expired_before is not None and message.server_time <= expired_before:
        return tombstone_json(message, "expiry")
    return {"type": "message", "seq": message.seq, "sender": message.sender_id,
            "device_id": bytes(message.device_id).hex(), "counter": message.device_counter,
            "client_message_id": bytes(message.client_message_id).hex(),
            "epoch": message.epoch_number, "message_hash": bytes(message.message_hash).hex(),
            "box": b64(message.box), "statement": b64(message.statement),
            "signature": b64(message.signature), "server_time": ms(message.server_time)}


def tombstone_json(message, reason: str) -> dict:
    """A removed message: what stays (seq, sender, server time, the signed statement and
    its hash) and the server's stated reason. Receivers believe an unsend only when they
    hold its signed unsend, and an expiry only when the chain set one (protocol.md §19)."""
    return {"type": "tombstone", "seq": message.seq, "sender": message.sender_id,
            "server_time": ms(message.server_time), "reason": reason,
            "message_hash": bytes(message.message_hash).hex(),
            "statement": b64(message.statement), "signature": b64(message.signature)}


def notice_json(notice) -> dict:
    """A server announcement (unsigned): ``removed`` names the account that left."""
    return {"type": "notice", "seq": notice.seq, "kind": notice.kind,
            "user": notice.subject_id, "reason": notice.reason,
            "server_time": ms(notice.server_time)}


def current_epoch_json(conversation) -> dict | None:
    if conversation.epoch_number == 0:
        return None
    return {"number": conversation.epoch_number,
            "envelope_hash": bytes(conversation.epoch_hash).hex()}


def head_json(conversation) -> dict:
    return {"index": conversation.head_index, "op_hash": bytes(conversation.head).hex()}


def conversation_json(conversation, read_positions: dict[int, int], unread: int = 0) -> dict:
    """``read_positions``: ``{member id: last read seq}`` of the current members."""
    return {"id": conversation.id, "kind": conversation.kind,
            "member_limit": conversation.member_limit, "members": sorted(read_positions),
            "read_positions": {str(uid): seq for uid, seq in sorted(read_positions.items())},
            "unread": unread,
            "last_seq": conversation.last_seq, "head": head_json(conversation),
            "epoch": current_epoch_json(conversation)}
