"""Tombstones in v2 conversations: a sender's signed unsend, and the chain's expiry.

A tombstone keeps a message's seq, sender, server time and signed statement (receivers
need it to follow the sender's device chain past it) and deletes the ciphertext (the
box); files it named are released
(``v2_messages_tombstoned``). The server cannot read which message an unsend names —
the target is inside the box — so the request names it in the clear (its message hash)
and receivers check the two agree: a tombstone with no matching signed unsend shows as
"removed by the server" (protocol.md §19).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.errors import Invalid, NotFound
from messaging.models import ConversationV2, MessageV2
from messaging.signals import v2_messages_tombstoned
from messaging.v2 import actions
from messaging.v2.checks import check_message

UNSEND_KIND = "unsend"
HASH_HEX_LENGTH = 64


def _tombstone(rows, reason: str, now: datetime) -> list[int]:
    ids = [row.pk for row in rows]
    if ids:
        MessageV2.objects.filter(pk__in=ids).update(box=b"", removed_at=now,
                                                    removed_reason=reason)
        v2_messages_tombstoned.send(sender=MessageV2, message_ids=ids)
    return ids


def target_hash_field(value) -> bytes:
    """The unsent message's hash: 64 lowercase hex digits, or 400 naming ``message``."""
    if (not isinstance(value, str) or len(value) != HASH_HEX_LENGTH
            or value.strip("0123456789abcdef")):
        raise Invalid("The message is named by its hash: 64 lowercase hex digits.",
                      field="message")
    return bytes.fromhex(value)


def check_unsend(sender, conversation_id: str, box: bytes, statement: bytes,
                 signature: bytes) -> None:
    """The unsend is a message of kind ``unsend`` that ``sender`` signed (its box names
    the target; only receivers can read that)."""
    parsed = check_message(conversation_id, sender, box, statement, signature)
    if parsed.kind != UNSEND_KIND:
        raise Invalid("An unsend is a message of kind 'unsend'.", field="statement")


def do_unsend(sender, conversation_id: str, target_hash: bytes, box: bytes, statement: bytes,
              signature: bytes) -> actions.Stored:
    """Store the sender's signed unsend at the next seq and tombstone its target, in one
    transaction. Only the target's own sender may unsend it (others get the same 404 as a
    message that does not exist). Repeating the request returns the stored unsend."""
    check_unsend(sender, conversation_id, box, statement, signature)
    with transaction.atomic():
        actions.lock_conversation(conversation_id)  # the send's lock order: conversation first
        target = (MessageV2.objects.select_for_update()
                  .filter(conversation_id=conversation_id, message_hash=target_hash,
                          sender=sender).first())
        if target is None:
            raise NotFound("No such message.")
        stored = actions.do_send_message(sender, conversation_id, box, statement, signature)
        if target.removed_at is None:
            _tombstone([target], "unsend", timezone.now())
    return stored


# --- expiry ----------------------------------------------------------------------------


def expired_v2_messages(now: datetime):
    """Messages older than their conversation's expiry (from the chain's set-expiry),
    not yet tombstoned."""
    condition = Q(pk__in=[])
    for pk, seconds in (ConversationV2.objects.filter(expiry_seconds__gt=0)
                        .values_list("pk", "expiry_seconds")):
        condition |= Q(conversation_id=pk, server_time__lte=now - timedelta(seconds=seconds))
    return MessageV2.objects.filter(removed_at__isnull=True).filter(condition)


def do_expire_v2_messages(now: datetime | None = None) -> int:
    """Tombstone every expired message (idempotent; the purge timer runs it)."""
    now = now or timezone.now()
    with transaction.atomic():
        rows = list(expired_v2_messages(now).select_for_update().only("pk"))
        return len(_tombstone(rows, "expiry", now))
