"""Read side of delivery (sync code, called by the consumer through database_sync_to_async).

The database is the record: live pushes are best effort, and whatever a
client missed is read back from here in seq order.
"""

from __future__ import annotations

from messaging import pins as pinning
from messaging.actions import contact_key_states
from messaging.display import MessageView, StoredFields
from messaging.models import Membership, Message

BATCH = 200


def positions(user) -> dict[int, tuple[int, int]]:
    """``{conversation id: (first visible seq - 1, last visible seq)}`` for the user."""
    result = {}
    for m in Membership.objects.filter(user=user).select_related("conversation"):
        result[m.conversation_id] = (m.first_visible_seq(),
                                     m.last_visible_seq(m.conversation.last_seq))
    return result


def last_seqs(user) -> dict[str, int]:
    return {str(cid): last for cid, (_first, last) in positions(user).items()}


def frames_between(user, view: MessageView, conversation_id: int, after: int, upto: int,
                   limit: int = BATCH) -> list[dict]:
    """Frames of the visible messages with ``after < seq <= upto`` (at most ``limit``)."""
    membership = Membership.objects.filter(user=user, conversation_id=conversation_id).first()
    if membership is None:
        return []
    rows = list(Message.objects.visible_to(membership)
                .filter(seq__gt=after, seq__lte=upto)[:limit])
    view.keys.prefetch({(m.sender_id, m.sender_generation) for m in rows if m.sender_id})
    return [view.render(StoredFields.from_row(m)) for m in rows]


def key_changes(user, identity_file, view: MessageView,
                conversation_ids=None) -> list[tuple[int, int]]:
    """``(conversation, contact)`` pairs whose keys changed; pins first use on the way."""
    memberships = Membership.objects.joined().filter(user=user).select_related("conversation")
    if conversation_ids is not None:
        memberships = memberships.filter(conversation_id__in=list(conversation_ids))
    changes = []
    for m in memberships:
        states = contact_key_states(user, identity_file, m.conversation, view.pins)
        changes += [(m.conversation_id, uid) for uid, s in sorted(states.items())
                    if s == pinning.CHANGED]
    return changes


def reload_pins(user, identity_file, view: MessageView) -> None:
    view.pins = pinning.load_pins(user, identity_file)
    view.keys.forget()
