"""Queries of v2 messaging: access-checked, and never a write."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Count, F
from django.utils import timezone

from accounts.api.me import generation_payload
from accounts.models import KeyGeneration, User
from client import membership
from client.errors import ClientCryptoError
from messaging.models import (
    ConversationV2,
    EpochV2,
    MembershipOperation,
    MemberV2,
    MessageV2,
    ServerNoticeV2,
)
from messaging.v2 import wire
from messaging.v2.access import access_v2_conversation

TIMELINE_PAGE = 200
EPOCH_PAGE = 20


def expiry_cutoff(conversation, now: datetime | None = None) -> datetime | None:
    """Messages sent at or before this have expired (None: no expiry). Read paths show
    them as tombstones even before the purge has run, without writing."""
    if not conversation.expiry_seconds:
        return None
    return (now or timezone.now()) - timedelta(seconds=conversation.expiry_seconds)


def list_conversations(user) -> list[dict]:
    """The user's current conversations, most recently active first, with their members'
    read positions and the user's unread count (messages of others above the user's read
    position). Three queries, however many conversations."""
    conversations = list(ConversationV2.objects.filter(members__user=user))
    positions: dict[str, dict[int, int]] = {c.pk: {} for c in conversations}
    for conversation_id, user_id, seq in MemberV2.objects.filter(
            conversation_id__in=list(positions)).values_list(
                "conversation_id", "user_id", "last_read_seq"):
        positions[conversation_id][user_id] = seq
    # One filter() call: both conditions name the same membership row (the user's own).
    unread = dict(MessageV2.objects.filter(
        conversation__members__user=user,
        seq__gt=F("conversation__members__last_read_seq"),
        removed_at__isnull=True,
    ).exclude(sender=user).values("conversation_id").annotate(n=Count("pk"))
        .values_list("conversation_id", "n").order_by())
    return [wire.conversation_json(c, positions[c.pk], unread.get(c.pk, 0))
            for c in conversations]


def read_chain(user, conversation_id: str) -> dict:
    """Every operation from ``create``, in index order, with the head (clients verify it)."""
    conversation = access_v2_conversation(user, conversation_id)
    operations = MembershipOperation.objects.filter(conversation=conversation).order_by("index")
    return {"head": wire.head_json(conversation),
            "operations": [wire.operation_json(op) for op in operations]}


def read_member_keys(user, conversation_id: str) -> dict:
    """Directory entries ``{id, email, display_name, key_generations}`` (generations
    newest first) of everyone a client meets in this conversation: current members, every actor or
    target of a stored operation (members who left or were removed, whose adds the chain
    vouched for), epoch creators and message senders (a removed member's old messages
    still verify). Clients pin these and check them against the fingerprints the chain
    vouches for; the server's word alone is trusted for nothing. Seven queries, however
    many people (operation statements are parsed here, not queried one by one)."""
    conversation = access_v2_conversation(user, conversation_id)
    ids = set(MemberV2.objects.filter(conversation=conversation).values_list("user_id", flat=True))
    for statement in MembershipOperation.objects.filter(
            conversation=conversation).values_list("statement", flat=True):
        try:
            op = membership.parse_operation(bytes(statement))
        except ClientCryptoError:  # a row clients refuse anyway: it names no one
            continue
        ids.update(i for i in (op.actor_id, op.target_id) if i)
    for model, column in ((EpochV2, "creator_id"), (MessageV2, "sender_id")):
        ids |= set(model.objects.filter(conversation=conversation)
                   .values_list(column, flat=True).distinct())
    ids.discard(None)
    generations: dict[int, list] = {}
    for row in KeyGeneration.objects.filter(user_id__in=ids).order_by("user_id", "-number"):
        generations.setdefault(row.user_id, []).append(generation_payload(row))
    users = User.objects.filter(pk__in=ids).order_by("pk").values_list("pk", "email",
                                                                       "display_name")
    return {"users": [{"id": pk, "email": email, "display_name": name,
                       "key_generations": generations.get(pk, [])}
                      for pk, email, name in users]}


def read_epochs(user, conversation_id: str, after: int) -> dict:
    """Up to ``EPOCH_PAGE`` epochs numbered above ``after``, envelopes included."""
    conversation = access_v2_conversation(user, conversation_id)
    rows = (EpochV2.objects.filter(conversation=conversation, number__gt=after)
            .order_by("number")[:EPOCH_PAGE])
    return {"current": wire.current_epoch_json(conversation),
            "epochs": [wire.epoch_json(e) for e in rows]}


def read_timeline(user, conversation_id: str, after: int) -> dict:
    """Operations, epoch announcements and messages with seq in (after, after + page], in
    seq order; seqs are gap-free, so a page is exactly that range."""
    conversation = access_v2_conversation(user, conversation_id)
    return {"last_seq": conversation.last_seq,
            "items": timeline_items(conversation, after, after + TIMELINE_PAGE)}


def timeline_items(conversation, after: int, upto: int) -> list[dict]:
    """Every timeline entry with ``after < seq <= upto`` in seq order (the caller checked
    access): operations, epoch announcements, server notices and messages."""
    in_range = {"conversation": conversation, "seq__gt": after, "seq__lte": upto}
    cutoff = expiry_cutoff(conversation)
    items = ([wire.operation_json(op) for op in MembershipOperation.objects.filter(**in_range)]
             + [wire.epoch_announcement_json(e) for e in EpochV2.objects.filter(**in_range)]
             + [wire.notice_json(n) for n in ServerNoticeV2.objects.filter(**in_range)]
             + [wire.message_json(m, expired_before=cutoff)
                for m in MessageV2.objects.filter(**in_range)])
    items.sort(key=lambda item: item["seq"])
    return items


def wire_item(item) -> dict:
    """A stored row as the timeline shows it (an epoch by its name, not its envelope)."""
    if isinstance(item, MessageV2):
        return wire.message_json(item)
    if isinstance(item, EpochV2):
        return wire.epoch_announcement_json(item)
    if isinstance(item, ServerNoticeV2):
        return wire.notice_json(item)
    return wire.operation_json(item)
