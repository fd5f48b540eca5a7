"""Who may touch what. Each helper returns the object or raises (404 hides existence)."""

from __future__ import annotations

import uuid

from messaging.errors import Left, NotFound
from messaging.models import Conversation, Membership, Message


def _as_int(value) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise NotFound("No such conversation.") from None
    if number <= 0 or number > 2**62:
        raise NotFound("No such conversation.")
    return number


def access_membership(user, conversation_id) -> Membership:
    """The user's membership (joined or left) of the conversation, or NotFound."""
    if user is None or not user.is_authenticated:
        raise NotFound("No such conversation.")
    membership = (Membership.objects.select_related("conversation")
                  .filter(conversation_id=_as_int(conversation_id), user=user).first())
    if membership is None:
        raise NotFound("No such conversation.")
    return membership


def access_conversation(user, conversation_id) -> Conversation:
    """A conversation the user is (or was) a member of; its ``membership`` attached."""
    membership = access_membership(user, conversation_id)
    conversation = membership.conversation
    conversation.membership = membership
    return conversation


def access_joined_conversation(user, conversation_id) -> Conversation:
    """Like ``access_conversation``, for actions that need a current member (send, typing)."""
    conversation = access_conversation(user, conversation_id)
    if not conversation.membership.is_joined:
        raise Left("You left this conversation.")
    return conversation


def access_message(user, conversation_id, message_id) -> Message:
    """A message the user can see in that conversation, or NotFound."""
    membership = access_membership(user, conversation_id)
    try:
        message_uuid = uuid.UUID(str(message_id))
    except ValueError:
        raise NotFound("No such message.") from None
    message = Message.objects.visible_to(membership).filter(pk=message_uuid).first()
    if message is None:
        raise NotFound("No such message.")
    return message
