"""The send path and the conversation actions (messaging.actions), in-process."""

from __future__ import annotations

import pytest

from messaging.actions import (
    do_block,
    do_delete_conversation,
    do_expire_messages,
    do_leave_conversation,
    do_mark_read,
    do_send_file_message,
    do_send_message,
    do_set_expiry,
    do_start_conversation,
    do_unblock,
    do_unsend_message,
)
from messaging.errors import Blocked, Invalid, Left, NotFound, TooBig
from messaging.models import Conversation, Membership, Message
from tests.messaging.conftest import rendered, view_as
from tests.support.accounts import make_user


def test_send_encrypts_to_both_members_signs_and_numbers_from_one(pair):
    """Both members decrypt each message with their own keys; seqs run 1, 2, 3; all valid."""
    texts = ["hello Bob", "hi Alice", "how are you?"]
    senders = [pair.alice, pair.bob, pair.alice]
    sent = [do_send_message(s.user, s.identity_file, pair.conversation_id, t, f"c{i}")
            for i, (s, t) in enumerate(zip(senders, texts, strict=True))]
    assert [s.seq for s in sent] == [1, 2, 3]
    for member in (pair.alice, pair.bob):
        frames = rendered(member, pair.conversation_id)
        assert [f["text"] for f in frames] == texts
        assert [f["signature"] for f in frames] == ["valid"] * 3
        assert [f["sender"] for f in frames] == [s.user.pk for s in senders]
    assert Conversation.objects.get(pk=pair.conversation_id).last_seq == 3


def test_outsider_cannot_decrypt_and_stored_body_is_an_age_file(pair):
    """The stored body is a binary age file without the text; a third user's keys cannot open it."""
    do_send_message(pair.alice.user, pair.alice.identity_file, pair.conversation_id,
                    "secret plans", "c1")
    body = bytes(Message.objects.get().body)
    assert body.startswith(b"age-encryption.org/v1\n")
    assert b"secret plans" not in body
    carol = make_user()
    frame = view_as(carol).render(
        __import__("messaging.display", fromlist=["StoredFields"]).StoredFields.from_row(
            Message.objects.get()))
    assert frame["text"] is None


def test_repeated_client_id_returns_the_stored_message(pair):
    """A retry with the same client_id stores nothing new and returns the same id and seq."""
    a = pair.alice
    first = do_send_message(a.user, a.identity_file, pair.conversation_id, "once", "same")
    again = do_send_message(a.user, a.identity_file, pair.conversation_id, "once", "same")
    assert (again.id, again.seq, again.created) == (first.id, first.seq, False)
    assert Message.objects.count() == 1
    # The same client_id from the other member is a different message.
    other = do_send_message(pair.bob.user, pair.bob.identity_file, pair.conversation_id,
                            "twice", "same")
    assert other.seq == 2 and Message.objects.count() == 2


@pytest.mark.parametrize("text,client_id,error", [
    ("", "c", Invalid), ("   ", "c", Invalid), (None, "c", Invalid), (5, "c", Invalid),
    ("x" * (16 * 1024 + 1), "c", TooBig), ("ok", "", Invalid), ("ok", "x" * 65, Invalid),
    ("ok", 7, Invalid),
])
def test_bad_sends_are_refused_and_store_nothing(pair, text, client_id, error):
    """Empty, non-string, oversized texts and bad client ids raise a clear error; no row."""
    with pytest.raises(error):
        do_send_message(pair.alice.user, pair.alice.identity_file, pair.conversation_id,
                        text, client_id)
    assert Message.objects.count() == 0
    assert Conversation.objects.get(pk=pair.conversation_id).last_seq == 0


def test_start_needs_a_verified_other_address(transactional_db):
    """Unverified, unknown and own addresses are refused; a second start returns the same id."""
    alice, bob, unverified = make_user(), make_user(), make_user(verified=False)
    with pytest.raises(NotFound):
        do_start_conversation(alice.user, unverified.email)
    with pytest.raises(NotFound):
        do_start_conversation(alice.user, "nobody@example.com")
    with pytest.raises(Invalid):
        do_start_conversation(alice.user, alice.email)
    first = do_start_conversation(alice.user, bob.email)
    assert do_start_conversation(bob.user, alice.email.upper()).pk == first.pk
    assert Conversation.objects.count() == 1


def test_non_member_cannot_send_or_read(pair):
    """A third user gets NotFound for the conversation (its existence is not revealed)."""
    carol = make_user()
    with pytest.raises(NotFound):
        do_send_message(carol.user, carol.identity_file, pair.conversation_id, "hi", "c")
    with pytest.raises(NotFound):
        do_mark_read(carol.user, pair.conversation_id, 1)
    assert Message.objects.count() == 0


def test_block_stops_both_directions_until_unblocked(pair):
    """After Bob blocks Alice neither can send; a new start is refused; unblocking restores."""
    do_block(pair.bob.user, pair.alice.email)
    for s in (pair.alice, pair.bob):
        with pytest.raises(Blocked):
            do_send_message(s.user, s.identity_file, pair.conversation_id, "hi", "c")
    with pytest.raises(Blocked):
        do_start_conversation(pair.alice.user, pair.bob.email)
    do_unblock(pair.bob.user, pair.alice.email)
    assert do_send_message(pair.alice.user, pair.alice.identity_file, pair.conversation_id,
                           "hi", "c").seq == 1


def test_left_member_cannot_send_and_sees_nothing_newer(pair):
    """After leaving, sending raises Left; messages after leaving are not visible to them."""
    a, b = pair.alice, pair.bob
    do_send_message(a.user, a.identity_file, pair.conversation_id, "before", "c1")
    do_leave_conversation(b.user, pair.conversation_id)
    with pytest.raises(Left):
        do_send_message(b.user, b.identity_file, pair.conversation_id, "x", "c2")
    do_send_message(a.user, a.identity_file, pair.conversation_id, "after", "c3")
    membership = Membership.objects.get(user=b.user)
    assert [m.seq for m in Message.objects.visible_to(membership)] == [1]
    # Restarting the direct conversation re-joins the leaver, without the old history.
    do_start_conversation(a.user, b.email)
    membership.refresh_from_db()
    assert membership.is_joined and list(Message.objects.visible_to(membership)) == []


def test_delete_on_my_side_hides_history_until_a_new_message(pair):
    """Deleting hides history for that member only; the next message brings the chat back."""
    a, b = pair.alice, pair.bob
    do_send_message(a.user, a.identity_file, pair.conversation_id, "one", "c1")
    do_delete_conversation(b.user, pair.conversation_id)
    assert not Membership.objects.listed_for(b.user).exists()
    assert Membership.objects.listed_for(a.user).count() == 1
    do_send_message(a.user, a.identity_file, pair.conversation_id, "two", "c2")
    mb = Membership.objects.get(user=b.user)
    assert [m.seq for m in Message.objects.visible_to(mb)] == [2]
    assert Membership.objects.listed_for(b.user).count() == 1


def test_unsend_keeps_a_tombstone_and_only_the_sender_may(pair):
    """Unsend drops body and signature, keeps seq/sender/time; the other member cannot unsend."""
    a, b = pair.alice, pair.bob
    sent = do_send_message(a.user, a.identity_file, pair.conversation_id, "oops", "c1")
    do_send_message(a.user, a.identity_file, pair.conversation_id, "fine", "c2")
    with pytest.raises(Exception):  # noqa: B017 - Forbidden
        do_unsend_message(b.user, pair.conversation_id, sent.id)
    do_unsend_message(a.user, pair.conversation_id, sent.id)
    row = Message.objects.get(pk=sent.id)
    assert row.body is None and row.signature is None and row.deleted_at is not None
    assert row.seq == 1 and row.sender_id == a.user.pk
    frames = rendered(b, pair.conversation_id)
    assert frames[0]["deleted"] is True and "text" not in frames[0]
    assert frames[1]["text"] == "fine"


def test_expiry_tombstones_messages_older_than_the_setting(pair):
    """With a 60 s expiry, do_expire_messages(now + 61 s) tombstones older messages only."""
    from datetime import timedelta

    from django.utils import timezone

    a = pair.alice
    do_send_message(a.user, a.identity_file, pair.conversation_id, "old", "c1")
    do_set_expiry(a.user, pair.conversation_id, 60)
    assert do_expire_messages(timezone.now() + timedelta(seconds=30)) == 0
    assert do_expire_messages(timezone.now() + timedelta(seconds=61)) == 1
    assert Message.objects.get().deleted_at is not None
    with pytest.raises(Invalid):
        do_set_expiry(a.user, pair.conversation_id, -1)


def test_expired_messages_are_hidden_before_the_purge_runs(pair):
    """A message past the conversation's expiry shows as deleted to both members at once,
    even while its ciphertext still waits for purge_expired; a younger one still shows."""
    import time

    a = pair.alice
    do_set_expiry(a.user, pair.conversation_id, 3)
    do_send_message(a.user, a.identity_file, pair.conversation_id, "old news", "c1")
    assert rendered(pair.bob, pair.conversation_id)[0]["text"] == "old news"  # control
    time.sleep(3.2)
    do_send_message(a.user, a.identity_file, pair.conversation_id, "fresh", "c2")
    for member in (pair.alice, pair.bob):
        frames = rendered(member, pair.conversation_id)
        assert frames[0]["deleted"] is True and "text" not in frames[0]
        assert frames[1]["text"] == "fresh"
    assert Message.objects.get(seq=1).body is not None  # the purge has not run


def test_read_position_only_moves_forward(pair):
    """do_mark_read clamps to the last seq and never moves back."""
    a, b = pair.alice, pair.bob
    for i in range(3):
        do_send_message(a.user, a.identity_file, pair.conversation_id, f"m{i}", f"c{i}")
    assert do_mark_read(b.user, pair.conversation_id, 2) == 2
    assert do_mark_read(b.user, pair.conversation_id, 1) == 2
    assert do_mark_read(b.user, pair.conversation_id, 99) == 3
    with pytest.raises(Invalid):
        do_mark_read(b.user, pair.conversation_id, "3")


def test_file_message_carries_encrypted_metadata_and_a_signed_digest(pair):
    """A file message shows name/type/size to members; its signature covers size and digest."""
    import hashlib

    a = pair.alice
    digest = hashlib.sha256(b"header and nonce").digest()
    sent = do_send_file_message(a.user, a.identity_file, pair.conversation_id, "f1",
                                {"name": "plan.pdf", "type": "application/pdf"}, 1234, digest)
    frame = rendered(pair.bob, pair.conversation_id)[0]
    assert frame["file"] == {"name": "plan.pdf", "type": "application/pdf", "size": 1234,
                             "id": str(sent.id)}
    assert frame["signature"] == "valid"
    assert b"plan.pdf" not in bytes(Message.objects.get().body)
    Message.objects.filter(pk=sent.id).update(file_size=1235)
    assert rendered(pair.bob, pair.conversation_id)[0]["signature"] == "invalid"
