"""Models of messaging, one concept per module."""

from messaging.models.blocks import Block
from messaging.models.v2 import (
    ConversationV2,
    EpochV2,
    MembershipOperation,
    MemberV2,
    MessageV2,
    ServerNoticeV2,
)

__all__ = ["Block", "ConversationV2", "EpochV2", "MemberV2", "MembershipOperation",
           "MessageV2", "ServerNoticeV2"]
