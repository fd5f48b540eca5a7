"""Fixtures for messaging tests: two verified users with real keys and a conversation."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from accounts.identity import IdentityFile
from messaging.actions import do_start_conversation
from messaging.display import MessageView, StoredFields
from messaging.models import Message
from messaging.pins import load_pins
from tests.support.accounts import TestUser, make_user
from tests.support.v2chat import V2User


@dataclass
class Pair:
    alice: TestUser
    bob: TestUser
    conversation_id: int


@pytest.fixture
def pair(transactional_db) -> Pair:
    alice, bob = make_user(), make_user()
    conversation = do_start_conversation(alice.user, bob.email)
    return Pair(alice, bob, conversation.pk)


def view_as(test_user: TestUser, identity_file: IdentityFile | None = None) -> MessageView:
    identity_file = identity_file or test_user.identity_file
    return MessageView(test_user.user.pk, identity_file,
                       load_pins(test_user.user, identity_file))


def rendered(test_user: TestUser, conversation_id: int) -> list[dict]:
    """Every message of the conversation as ``test_user`` sees it (decrypted, verified).

    Like the API and the consumer, contacts are pinned (first use) before rendering.
    """
    from messaging.access import access_conversation
    from messaging.actions import contact_key_states

    conversation = access_conversation(test_user.user, conversation_id)
    contact_key_states(test_user.user, test_user.identity_file, conversation)
    view = view_as(test_user)
    return [view.render(StoredFields.from_row(m))
            for m in Message.objects.filter(conversation_id=conversation_id).order_by("seq")]


@pytest.fixture
def trio(transactional_db):
    """Three version 2 users (Alice, Bob, Carol), signed up through the client flow."""
    return V2User.signup("alice"), V2User.signup("bob"), V2User.signup("carol")
