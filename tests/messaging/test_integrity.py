"""Tampering with stored rows is reported, never shown as valid (DESIGN.md §3)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.utils import timezone

from accounts.identity import IdentityFile, endorsement_message
from accounts.models import KeyGeneration
from messaging import signing
from messaging.actions import do_accept_key, do_send_message
from messaging.errors import KeyChanged
from messaging.listing import conversation_list
from messaging.models import ContactPins, Message
from tests.messaging.conftest import rendered


def send(user, cid, text, cid_suffix="1"):
    return do_send_message(user.user, user.identity_file, cid, text, f"c{cid_suffix}")


def flip(data: bytes, index: int) -> bytes:
    data = bytearray(data)
    data[index] ^= 0x01
    return bytes(data)


@pytest.fixture
def one_message(pair):
    send(pair.alice, pair.conversation_id, "genuine")
    assert rendered(pair.bob, pair.conversation_id)[0]["signature"] == "valid"  # control
    return Message.objects.get()


def test_tampered_ciphertext_is_invalid_and_not_shown(pair, one_message):
    """A flipped payload byte (or header byte) makes the message invalid, its text withheld."""
    body = bytes(one_message.body)
    for index in (len(body) - 5, 30):
        Message.objects.filter(pk=one_message.pk).update(body=flip(body, index))
        frame = rendered(pair.bob, pair.conversation_id)[0]
        assert frame["signature"] == "invalid" and frame["text"] is None


def test_tampered_signature_is_invalid(pair, one_message):
    """A flipped signature byte: invalid, no text."""
    Message.objects.filter(pk=one_message.pk).update(
        signature=flip(bytes(one_message.signature), 10))
    frame = rendered(pair.bob, pair.conversation_id)[0]
    assert frame["signature"] == "invalid" and frame["text"] is None


def test_tampered_signed_fields_are_invalid(pair, one_message):
    """Changing the seq, the sender generation or the sent time breaks the signature."""
    for change in ({"sent_at": one_message.sent_at.replace(year=2020)},
                   {"recipient_fingerprints": ["0" * 10]}):
        Message.objects.filter(pk=one_message.pk).update(**change)
        assert rendered(pair.bob, pair.conversation_id)[0]["signature"] == "invalid"
        Message.objects.filter(pk=one_message.pk).update(
            sent_at=one_message.sent_at, recipient_fingerprints=one_message.recipient_fingerprints)
    assert rendered(pair.bob, pair.conversation_id)[0]["signature"] == "valid"


def test_swapped_sender_key_row_with_a_forged_message_is_invalid(pair, one_message):
    """An attacker swaps Alice's directory signing key for theirs and re-signs the message:
    Bob's pin of Alice's keys exposes it (invalid), and Bob cannot send to the swapped keys."""
    attacker = Ed25519PrivateKey.generate()
    KeyGeneration.objects.filter(user=pair.alice.user).update(
        signing_public_key=attacker.public_key().public_bytes_raw())
    forged = Message.objects.get()
    forged.signature = signing.sign(attacker, signing.fields_of(forged))
    forged.save(update_fields=["signature"])
    frame = rendered(pair.bob, pair.conversation_id)[0]
    assert frame["signature"] == "invalid" and frame["text"] is None
    with pytest.raises(KeyChanged):
        send(pair.bob, pair.conversation_id, "to a swapped key", "2")


def test_swapped_recipient_key_row_blocks_sending(pair, one_message):
    """An attacker swaps Bob's directory recipient for theirs: Alice's next send is refused
    (key_changed), the list shows the pending change, and nothing is encrypted to the attacker
    until Alice accepts."""
    attacker = IdentityFile.create(settings.SECURECHAT_KEY_TYPE)
    KeyGeneration.objects.filter(user=pair.bob.user).update(
        recipient=str(attacker.recipient()))
    with pytest.raises(KeyChanged):
        send(pair.alice, pair.conversation_id, "for bob only", "2")
    assert Message.objects.count() == 1
    listed = conversation_list(pair.alice.user, pair.alice.identity_file)
    assert listed[0]["key_change_pending"] == [pair.bob.user.pk]
    do_accept_key(pair.alice.user, pair.alice.identity_file, pair.conversation_id)
    assert send(pair.alice, pair.conversation_id, "accepted", "3").seq == 2


def _new_generation(test_user, endorsed: bool) -> IdentityFile:
    old = test_user.identity_file
    new = old.with_new_generation(settings.SECURECHAT_KEY_TYPE)
    KeyGeneration.objects.filter(user=test_user.user).update(retired_at=timezone.now())
    recipient, signing_public = str(new.recipient()), new.signing_public_key()
    endorsement = old.signing_key.sign(endorsement_message(
        test_user.user.pk, new.current_generation, recipient, signing_public)) if endorsed \
        else None
    KeyGeneration.objects.create(user=test_user.user, number=new.current_generation,
                                 key_type=settings.SECURECHAT_KEY_TYPE, recipient=recipient,
                                 signing_public_key=signing_public, endorsement=endorsement)
    test_user.identity_file = new
    return new


def test_unendorsed_new_generation_always_blocks_until_accepted(pair, one_message):
    """Bob resets his keys without the recovery code (no endorsement): Alice is blocked with
    a pending key change until she accepts; Bob's new-key messages show as unverified."""
    _new_generation(pair.bob, endorsed=False)
    send(pair.bob, pair.conversation_id, "new keys here", "b1")
    frames = rendered(pair.alice, pair.conversation_id)
    assert frames[-1]["signature"] == "unverified"
    with pytest.raises(KeyChanged):
        send(pair.alice, pair.conversation_id, "x", "2")
    assert do_accept_key(pair.alice.user, pair.alice.identity_file,
                         pair.conversation_id) == [pair.bob.user.pk]
    assert rendered(pair.alice, pair.conversation_id)[-1]["signature"] == "valid"
    send(pair.alice, pair.conversation_id, "ok now", "3")
    notice = conversation_list(pair.alice.user, pair.alice.identity_file)[0]["key_notices"]
    assert notice[0]["endorsed"] is False and notice[0]["to"] == 2


def test_endorsed_new_generation_is_accepted_with_an_info_notice(pair, one_message):
    """A new generation signed by the pinned previous key is accepted automatically; the
    conversation shows an info notice; a forged endorsement is not accepted."""
    _new_generation(pair.bob, endorsed=True)
    assert send(pair.alice, pair.conversation_id, "still fine", "2").seq == 2
    listed = conversation_list(pair.alice.user, pair.alice.identity_file)[0]
    assert listed["key_change_pending"] == []
    assert listed["key_notices"][0]["endorsed"] is True
    # Control: an endorsement by some other key is a blocking change.
    row = KeyGeneration.objects.current_for(pair.bob.user)
    _new_generation(pair.bob, endorsed=False)
    KeyGeneration.objects.filter(pk=KeyGeneration.objects.current_for(pair.bob.user).pk).update(
        endorsement=Ed25519PrivateKey.generate().sign(b"not the previous key"))
    assert row.number == 2
    with pytest.raises(KeyChanged):
        send(pair.alice, pair.conversation_id, "x", "3")


def test_tampered_pin_blob_blocks_every_contact_until_accepted(pair, one_message):
    """Editing the pin row cannot silently re-pin: every contact needs accepting again."""
    send(pair.alice, pair.conversation_id, "pins exist", "2")
    record = ContactPins.objects.get(user=pair.alice.user)
    ContactPins.objects.filter(pk=record.pk).update(blob=flip(bytes(record.blob), 40))
    with pytest.raises(KeyChanged):
        send(pair.alice, pair.conversation_id, "x", "3")
    do_accept_key(pair.alice.user, pair.alice.identity_file, pair.conversation_id)
    assert send(pair.alice, pair.conversation_id, "y", "4").created


def test_history_after_a_reset_without_recovery_code_is_unreadable_not_forged(pair):
    """After Alice resets her password without the recovery code, her earlier messages are
    reported as unreadable with their signatures still valid, never as forged; Bob still
    reads them (control), and what Alice sends with her new keys she reads again."""
    from django.contrib.auth.tokens import default_token_generator
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    from accounts.actions import check_credentials, do_reset_password

    send(pair.alice, pair.conversation_id, "before the reset")
    alice = pair.alice.user
    uid = urlsafe_base64_encode(force_bytes(alice.pk))
    result = do_reset_password(uid, default_token_generator.make_token(alice),
                               "a brand new passphrase 42")
    assert result.keys_kept is False
    alice, pair.alice.identity_file = check_credentials(alice.email, "a brand new passphrase 42")
    pair.alice.user = alice

    old = rendered(pair.alice, pair.conversation_id)[0]
    assert old["unreadable"] is True and old["text"] is None
    assert old["signature"] == "valid"
    assert rendered(pair.bob, pair.conversation_id)[0]["text"] == "before the reset"
    assert "unreadable" not in rendered(pair.bob, pair.conversation_id)[0]

    # Her pins were sealed to the old keys too: she re-accepts Bob before sending.
    do_accept_key(pair.alice.user, pair.alice.identity_file, pair.conversation_id)
    send(pair.alice, pair.conversation_id, "after the reset", "2")
    latest = rendered(pair.alice, pair.conversation_id)[-1]
    assert latest["text"] == "after the reset" and "unreadable" not in latest
