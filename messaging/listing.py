"""Read models for the API and the history page: conversation lists and message pages."""

from __future__ import annotations

from django.db.models import Count, F, Q
from django.db.models.functions import Greatest

from messaging import pins as pinning
from messaging.actions import contact_key_states
from messaging.display import MessageView, StoredFields
from messaging.models import Membership, Message
from messaging.models.messages import to_ms


def conversation_list(user, identity_file) -> list[dict]:
    memberships = list(
        Membership.objects.listed_for(user).select_related("conversation")
        .annotate(unread=Count(
            "conversation__messages",
            filter=Q(conversation__messages__seq__gt=Greatest(F("last_read_seq"),
                                                               F("hidden_before_seq")))
            & ~Q(conversation__messages__sender=user)))
        .order_by("-conversation__last_activity_at"))
    pins = pinning.load_pins(user, identity_file)
    members = {}
    for m in (Membership.objects.filter(conversation_id__in=[x.conversation_id
                                                             for x in memberships])
              .select_related("user").order_by("user_id")):
        members.setdefault(m.conversation_id, []).append(
            {"id": m.user_id, "email": m.user.email, "state": m.state})
    result = []
    for m in memberships:
        conversation = m.conversation
        states = contact_key_states(user, identity_file, conversation, pins)
        notices = []
        for uid in states:
            entry = pins.entry(uid)
            if entry and entry.get("notice"):
                notices.append({"contact": uid, **entry["notice"]})
        result.append({
            "id": conversation.pk,
            "members": members.get(conversation.pk, []),
            "last_seq": conversation.last_seq,
            "unread": m.unread,
            "last_read_seq": m.last_read_seq,
            "last_activity": to_ms(conversation.last_activity_at),
            "key_change_pending": sorted(uid for uid, s in states.items()
                                         if s == pinning.CHANGED),
            "key_notices": notices,
            "expiry_seconds": conversation.expiry_seconds,
        })
    return result


def message_page(user, identity_file, conversation, *, before=None, after=None,
                 limit=50) -> dict:
    """A page of messages for the member, oldest first, with the seqs to page further."""
    membership = conversation.membership
    states = contact_key_states(user, identity_file, conversation) if membership.is_joined \
        else {}
    view = MessageView(user.pk, identity_file, pinning.load_pins(user, identity_file))
    visible = Message.objects.visible_to(membership)
    if after is not None:
        rows = list(visible.filter(seq__gt=after)[:limit + 1])
        more_after, rows = len(rows) > limit, rows[:limit]
        more_before = bool(rows) and visible.filter(seq__lt=rows[0].seq).exists()
    else:
        qs = visible.filter(seq__lt=before) if before is not None else visible
        rows = list(qs.order_by("-seq")[:limit + 1])
        more_before, rows = len(rows) > limit, rows[:limit][::-1]
        more_after = bool(rows) and visible.filter(seq__gt=rows[-1].seq).exists()
    view.keys.prefetch({(m.sender_id, m.sender_generation) for m in rows if m.sender_id})
    items = []
    for m in rows:
        frame = view.render(StoredFields.from_row(m))
        frame.pop("type")
        items.append(frame)
    return {
        "conversation": conversation.pk,
        "messages": items,
        "has_before": more_before,
        "has_after": more_after,
        "key_change_pending": sorted(uid for uid, s in states.items() if s == pinning.CHANGED),
        "expiry_seconds": conversation.expiry_seconds,
    }
