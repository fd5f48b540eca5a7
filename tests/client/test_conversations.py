"""client.conversations against a live server: the engine the messaging CLI runs on.

Users sign up through client.account on their own httpx sessions (no Django in the
client); the tests read and tamper with rows straight from the database, as a lying
server would. Each scenario runs on one live server.
"""

from __future__ import annotations

import itertools
import json
import os

import httpx
import pytest
from django.conf import settings
from django.utils import timezone

import agecrypt
from accounts.models import User
from accounts.models.pins import PinBlob
from client import account, epochs
from client.conversations import ChainRefused, Messenger, SendRefused
from client.endorsement import Endorsed
from client.errors import ApiFailure, PinRollbackError, UsageError
from client.http import Session
from client.identity import _new_identity
from client.pins import PinStore
from client.state import LocalState
from messaging.models import ConversationV2, EpochV2, MembershipOperation, MessageV2
from tests.accounts import fresh_rate_limits  # noqa: F401

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_rate_limits")]

PASSWORD = "correct horse battery staple"
_names = itertools.count(1)


@pytest.fixture
def server(start_shared_server):
    """One uvicorn for the module's tests (rows and files are emptied after each)."""
    return start_shared_server("uvicorn")


def make_user(server, tmp_path, name: str, *, transport=None) -> Messenger:
    """A signed-up, verified user with its own config directory and messaging engine."""
    email = f"{name}{next(_names)}-{os.getpid()}@example.org"
    home = tmp_path / email
    home.mkdir(mode=0o700)
    session = Session(server.url, home, transport=transport)
    result = account.signup(session, email, PASSWORD, settings.SECURECHAT_KEY_TYPE,
                            account.KnownAccounts(home), min_work_factor=10)
    User.objects.filter(email=email).update(email_verified_at=timezone.now())
    user = User.objects.get(email=email)
    messenger = Messenger(session, result.identity, LocalState(home, session.origin, email),
                          user.pk)
    messenger.email = email
    return messenger


def texts(messenger: Messenger, conversation_id: str) -> list[str]:
    conv = messenger.load(conversation_id)
    return [e.text for e in conv.entries if e.text is not None]


def test_direct_conversation_both_ways_exactly_once_in_order(server, tmp_path):
    alice, bob = make_user(server, tmp_path, "alice"), make_user(server, tmp_path, "bob")
    cid = alice.create([alice.lookup_email(bob.email)], "", "direct")
    # Starting it again answers the same conversation.
    assert alice.create([alice.lookup_email(bob.email)], "", "direct") == cid
    alice.send_text(cid, "hello bob")
    bob.send_text(cid, "hello alice")
    alice.send_text(cid, "how are you?")
    for reader in (alice, bob):
        conv = reader.load(cid)
        assert [e.text for e in conv.entries if e.text] == [
            "hello bob", "hello alice", "how are you?"]
        assert not conv.alerts and all(not e.warnings and not e.failure for e in conv.entries)
        seqs = [e.seq for e in conv.entries]
        assert seqs == sorted(set(seqs))
        events = [e.event for e in conv.entries if e.event]
        assert events[0].endswith("created the conversation") and "added" in events[1]
    # The server holds the ciphertext only.
    assert not any(b"hello" in bytes(m.box) for m in MessageV2.objects.all())
    # A message the server turns into a tombstone without a signed unsend: shown as
    # removed by the server (its claim "unsend" is not believed).
    first = next(e.seq for e in conv.entries if e.text == "hello bob")
    MessageV2.objects.filter(conversation_id=cid, seq=first).update(
        removed_at=timezone.now(), removed_reason="unsend")
    conv = bob.load(cid)
    (removed,) = [e for e in conv.entries if e.seq == first]
    assert removed.text is None and "was removed (the server says: unsend)" in removed.event
    assert bob.unexplained(conv) == [f"a message from {alice.email} was removed by the server"]
    assert not any(e.warnings for e in conv.entries)  # the next messages still verify
    # A message the server withholds from Bob shows as missing at the next one.
    alice.send_text(cid, "withheld")
    alice.send_text(cid, "after it")
    MessageV2.objects.filter(conversation_id=cid).order_by("-seq")[1].delete()
    conv = bob.load(cid)
    assert [e.text for e in conv.entries if e.text][-2:] == ["how are you?", "after it"]
    assert conv.entries[-1].warnings == [f"a message from {alice.email} is missing"]


def test_replies_edits_and_reactions_read_against_their_target(server, tmp_path):
    """The documents the browser sends (protocol.md §24) read sensibly here: a reply
    names its original's seq, reactions and edits are events, an edit by someone other
    than the original's sender is listed as an attempt that changed nothing, and a
    reaction signed as a text message fails verification."""
    alice, bob = make_user(server, tmp_path, "alice"), make_user(server, tmp_path, "bob")
    cid = alice.create([alice.lookup_email(bob.email)], "", "direct")
    original = alice.send_text(cid, "lunch at noon?")
    target, seq = original["message_hash"], original["seq"]

    def send(user: Messenger, doc: dict, kind: str | None = None) -> None:
        user._send_payload(cid, json.dumps(doc).encode(), kind or doc["type"])

    send(bob, {"v": 2, "type": "reply", "target": target, "text": "yes!"})
    send(bob, {"v": 2, "type": "reaction", "target": target, "emoji": "👍"})
    send(alice, {"v": 2, "type": "edit", "target": target, "text": "lunch at one?"})
    send(bob, {"v": 2, "type": "edit", "target": target, "text": "no lunch"})
    send(bob, {"v": 2, "type": "reaction", "target": target, "emoji": ""})
    send(bob, {"v": 2, "type": "reaction", "target": target, "emoji": "😮"}, kind="text")
    conv = alice.load(cid)
    said = [(e.text, e.event, e.failure) for e in conv.entries if e.seq > seq]
    assert said[:5] == [
        (f"[reply to #{seq}] yes!", None, None),
        (None, f"{bob.email} reacted 👍 to #{seq}", None),
        (None, f"{alice.email} edited #{seq}: lunch at one?", None),
        (None, f"{bob.email} tried to edit {alice.email}'s message #{seq} (not applied)",
         None),
        (None, f"{bob.email} took back a reaction to #{seq}", None)]
    assert said[5][2] == ("this message failed verification (the message's kind and its "
                          "content disagree)")
    assert len(said) == 6


def test_a_lost_answer_is_resent_unchanged_and_stored_once(server, tmp_path):
    lost = {"armed": False, "statuses": []}

    class LosingTransport(httpx.HTTPTransport):
        """Delivers the request, then loses the answer (once) when armed."""

        def handle_request(self, request):
            response = super().handle_request(request)
            if request.url.path.endswith("/messages"):
                lost["statuses"].append(response.status_code)
            if lost["armed"] and request.url.path.endswith("/messages"):
                lost["armed"] = False
                response.read()
                raise httpx.ReadTimeout("answer lost", request=request)
            return response

    alice = make_user(server, tmp_path, "alice", transport=LosingTransport())
    bob = make_user(server, tmp_path, "bob")
    cid = alice.create([alice.lookup_email(bob.email)], "", "direct")
    lost["armed"] = True
    item = alice.send_text(cid, "only once")
    # The first answer (201, stored) was lost; the retry sent the same signed body, so the
    # server answered 200 with the stored message instead of storing a second one.
    assert lost["statuses"] == [201, 200]
    assert MessageV2.objects.filter(conversation_id=cid).count() == 1
    assert item["seq"] == MessageV2.objects.get(conversation_id=cid).seq
    assert texts(bob, cid) == ["only once"]
    assert "pending" not in alice.state.conversation(cid)
    # The next message continues the device's chain: no "missing" warning for Bob.
    alice.send_text(cid, "and again")
    conv = bob.load(cid)
    assert [e.text for e in conv.entries if e.text] == ["only once", "and again"]
    assert not any(e.warnings for e in conv.entries)


def test_group_add_remove_leave_and_the_removed_member_opens_nothing_new(server, tmp_path):
    alice, bob, carol = (make_user(server, tmp_path, n) for n in ("alice", "bob", "carol"))
    cid = alice.create([alice.lookup_email(bob.email), alice.lookup_email(carol.email)],
                       "Book club", "group")
    assert bob.load(cid).name == "Book club"
    bob.send_text(cid, "before")
    alice.change_members(alice.load(cid), "remove", alice.lookup_email(bob.email))
    alice.send_text(cid, "after bob left")
    seen_by_carol = carol.load(cid)
    assert [e.text for e in seen_by_carol.entries if e.text] == ["before", "after bob left"]
    assert not seen_by_carol.alerts and not any(e.warnings for e in seen_by_carol.entries)
    with pytest.raises(ApiFailure) as refused:
        bob.load(cid)
    assert refused.value.status == 404
    # From the database: Bob's identity opens none of the envelopes after his removal.
    latest = EpochV2.objects.filter(conversation_id=cid).order_by("-number").first()
    with pytest.raises(agecrypt.AgeError):
        agecrypt.decrypt(bytes(latest.envelope), [bob.identity.current_identity])
    assert agecrypt.decrypt(bytes(latest.envelope), [carol.identity.current_identity])
    carol.change_members(carol.load(cid), "leave")
    alice.send_text(cid, "just me now")  # a new epoch is due: created before sending
    newest = EpochV2.objects.filter(conversation_id=cid).order_by("-number").first()
    assert newest.number == latest.number + 1
    assert epochs.parse_epoch_statement(bytes(newest.statement)).entry(carol.me.user_id) is None
    events = [e.event for e in alice.load(cid).entries if e.event]
    assert any("removed" in line for line in events) and any("left" in line for line in events)


def test_a_lying_server_is_caught(server, tmp_path):
    alice, bob = make_user(server, tmp_path, "alice"), make_user(server, tmp_path, "bob")
    cid = alice.create([alice.lookup_email(bob.email)], "", "direct")
    alice.send_text(cid, "first")
    alice.send_text(cid, "second")
    assert texts(bob, cid) == ["first", "second"]
    # A flipped ciphertext byte, and a flipped signature byte: shown as failed, never as text.
    first, second = MessageV2.objects.filter(conversation_id=cid).order_by("seq")
    box = bytearray(bytes(first.box))
    box[-1] ^= 1
    first.box = bytes(box)
    first.save()
    signature = bytearray(bytes(second.signature))
    signature[0] ^= 1
    second.signature = bytes(signature)
    second.save()
    entries = [e for e in bob.load(cid).entries if e.event is None]
    assert [e.text for e in entries] == [None, None]
    assert all("failed verification" in e.failure for e in entries)
    # An epoch envelope replaced by another one for the same number: equivocation.
    current = EpochV2.objects.filter(conversation_id=cid).order_by("-number").first()
    conv = alice.load(cid)
    forged, data, signature, _ = epochs.build_epoch(
        alice.identity.signing_key, alice.me, conversation_id=bytes.fromhex(cid),
        epoch=current.number, prev_envelope_hash=conv.statements[current.number - 1]
        .envelope_hash, chain_head=conv.chain.state.head,
        members=[alice.me, conv.keys.current[bob.me.user_id]], name="")
    EpochV2.objects.filter(pk=current.pk).update(
        envelope=forged, statement=data, signature=signature,
        envelope_hash=epochs.parse_epoch_statement(data).envelope_hash)
    assert any("equivocation" in a for a in bob.load(cid).alerts)
    with pytest.raises(SendRefused, match="equivocation"):
        bob.send_text(cid, "blocked")
    # An operation appended in the database without a valid signature: refused, clearly.
    last = MembershipOperation.objects.filter(conversation_id=cid).order_by("-index").first()
    MembershipOperation.objects.filter(pk=last.pk).update(signature=bytes(64))
    with pytest.raises(ChainRefused, match="does not verify"):
        alice.load(cid)


def test_bad_input_sends_nothing(server, tmp_path):
    alice, bob = make_user(server, tmp_path, "alice"), make_user(server, tmp_path, "bob")
    cid = alice.create([alice.lookup_email(bob.email)], "", "direct")
    for text, why in (("", "empty"), ("   ", "empty"), ("x" * 49_000, "too long")):
        with pytest.raises(UsageError, match=why):
            alice.send_text(cid, text)
    with pytest.raises(ApiFailure) as unknown:
        alice.lookup_email("nobody-here@example.org")
    assert unknown.value.status == 404
    assert not MessageV2.objects.filter(conversation_id=cid).exists()


def test_an_epoch_that_does_not_open_for_a_member_gets_a_replacement(server, tmp_path):
    alice, bob = make_user(server, tmp_path, "alice"), make_user(server, tmp_path, "bob")
    cid = alice.create([alice.lookup_email(bob.email)], "", "direct")
    # The current epoch, re-made by Alice (signed, following the same previous epoch) but
    # encrypting to a key that is not Bob's, put in place of the stored one before Bob
    # ever loaded the conversation.
    conv = alice.load(cid)
    current = EpochV2.objects.filter(conversation_id=cid).order_by("-number").first()
    not_bob = Endorsed(bob.me.user_id, bob.me.generation,
                       str(_new_identity(settings.SECURECHAT_KEY_TYPE).recipient()),
                       bob.me.ed25519)
    envelope, data, signature, _ = epochs.build_epoch(
        alice.identity.signing_key, alice.me, conversation_id=bytes.fromhex(cid),
        epoch=current.number,
        prev_envelope_hash=conv.statements[current.number - 1].envelope_hash,
        chain_head=conv.chain.state.head, members=[alice.me, not_bob], name="")
    envelope_hash = epochs.parse_epoch_statement(data).envelope_hash
    EpochV2.objects.filter(pk=current.pk).update(
        envelope=envelope, statement=data, signature=signature, envelope_hash=envelope_hash)
    ConversationV2.objects.filter(pk=cid).update(epoch_hash=envelope_hash)
    loaded = bob.load(cid)
    assert loaded.alerts == [] and current.number in loaded.unopenable
    assert f"epoch {current.number} by {alice.email} does not open for you" in loaded.notes[0]
    bob.send_text(cid, "in a replacement epoch")
    replacement = EpochV2.objects.get(conversation_id=cid, number=current.number + 1)
    statement = epochs.parse_epoch_statement(bytes(replacement.statement))
    assert statement.creator_id == bob.me.user_id
    assert statement.entry(bob.me.user_id) == epochs.MemberEntry.of(bob.me)
    assert [e.text for e in bob.load(cid).entries if e.text] == ["in a replacement epoch"]


def test_verified_marks_from_two_devices_at_once_both_survive(server, tmp_path):
    alice, bob, carol = (make_user(server, tmp_path, n) for n in ("alice", "bob", "carol"))
    bob_keys, carol_keys = alice.lookup_email(bob.email), alice.lookup_email(carol.email)
    # Two devices of Alice's read the pin blob (empty), then each marks another contact.
    laptop = PinStore(alice.session, alice.identity, alice.me, {})
    phone = PinStore(alice.session, alice.identity, alice.me, {})
    laptop.mark_verified(bob_keys)
    phone.mark_verified(carol_keys)
    laptop.save()
    first_blob = bytes(PinBlob.objects.get(user_id=alice.me.user_id).blob)
    phone.save()  # loses the compare-and-swap to the laptop's write, merges, retries
    fresh = PinStore(alice.session, alice.identity, alice.me, {})
    assert fresh.verified(bob.me.user_id) and fresh.verified(carol.me.user_id)
    assert fresh.version == 2  # two writes: the laptop's, then the merged one
    # A device that saw version 2 refuses the older blob when the server serves it again.
    seen = {}
    PinStore(alice.session, alice.identity, alice.me, seen)
    assert seen["version"] == 2
    PinBlob.objects.filter(user_id=alice.me.user_id).update(version=1, blob=first_blob)
    with pytest.raises(PinRollbackError):
        PinStore(alice.session, alice.identity, alice.me, seen)
    assert PinStore(alice.session, alice.identity, alice.me, {}).verified(bob.me.user_id)
