"""Models of messaging, one concept per module."""

from messaging.models.conversations import Block, Conversation, Membership
from messaging.models.messages import Message
from messaging.models.pins import ContactPins

__all__ = ["Block", "ContactPins", "Conversation", "Membership", "Message"]
