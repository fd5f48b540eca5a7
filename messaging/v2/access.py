"""Who may touch a v2 conversation: its current members (404 hides existence otherwise)."""

from __future__ import annotations

from accounts.errors import NotFound
from messaging.models import ConversationV2
from messaging.v2.wire import CONVERSATION_ID


def access_v2_conversation(user, conversation_id) -> ConversationV2:
    """The conversation if ``user`` is a current member; ``NotFound`` for anything else
    (a malformed id, no such conversation, a conversation of others) alike."""
    if user is None or not user.is_authenticated:
        raise NotFound("No such conversation.")
    if not isinstance(conversation_id, str) or not CONVERSATION_ID.match(conversation_id):
        raise NotFound("No such conversation.")
    conversation = ConversationV2.objects.filter(pk=conversation_id, members__user=user).first()
    if conversation is None:
        raise NotFound("No such conversation.")
    return conversation
