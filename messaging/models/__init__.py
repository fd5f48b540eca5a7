"""Models of messaging, one concept per module."""

from messaging.models.conversations import Block, Conversation, Membership
from messaging.models.messages import Message
from messaging.models.pins import ContactPins
from messaging.models.v2 import (
    ConversationV2,
    EpochV2,
    MembershipOperation,
    MemberV2,
    MessageV2,
    ServerNoticeV2,
)

__all__ = ["Block", "ContactPins", "Conversation", "ConversationV2", "EpochV2", "MemberV2",
           "Membership", "MembershipOperation", "Message", "MessageV2", "ServerNoticeV2"]
