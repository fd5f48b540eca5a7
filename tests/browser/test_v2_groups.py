"""Group management, typing, receipts and cannot-open notices in the browser's v2 chat.

One live server for the module. Browser users run the chat in a page of the live
server (its strict CSP applies), started as the /v2/ shell starts it
(tests/browser/test_v2_chat.py's ``open_chat``); the other members are Python clients
(``client/`` and tests/support/v2chat.py) that sign, verify and open everything
themselves. What the server stores is read straight from the database.
"""

from __future__ import annotations

import hashlib
import json
import os

import pytest
from django.conf import settings
from playwright.sync_api import expect

import agecrypt
from client import epochs, notices, signing
from client.identity import _new_identity
from tests.browser.test_v2_chat import (
    BASE,
    HEARTBEAT,
    ChainedGroup,
    Reader,
    open_chat,
    send,
    signup,
    start_conversation,
    texts,
)
from tests.support.bundle import ensure_built
from tests.support.live import LiveServer
from tests.support.v2chat import b64

pytestmark = [pytest.mark.browser]


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker, redis_url, tmp_path_factory):
    """One uvicorn for the module, on the test database (tests commit: transactional_db)."""
    ensure_built()
    live = LiveServer("uvicorn", tmp_path_factory.mktemp("v2-groups-server"),
                      extra_env={"SECURECHAT_RATE_SIGNUP_ADDRESS": "1000/3600",
                                 "SECURECHAT_WS_HEARTBEAT_SECONDS": str(HEARTBEAT)}).start()
    yield live
    live.stop()


def operations_stored(conversation: str) -> int:
    from messaging.models import MembershipOperation

    return MembershipOperation.objects.filter(conversation_id=conversation).count()


def member_row(page, user):
    return page.locator(f".v2-members li[data-id='{user.id}']")


def post_read(user, conversation: str, seq: int) -> None:
    """A Python member stores its read position, as a client that showed up to ``seq``."""
    r = user.http.post(f"{BASE}/{conversation}/read", json.dumps({"seq": seq}))
    assert r.status_code == 200, r.text


def test_an_admin_makes_a_python_member_an_admin_who_then_adds_someone(
        server, transactional_db, new_page):
    """Alice (Chromium) makes Bob (Python) an admin in "Book club": the signed grant is on
    the chain Bob verifies, Bob adds Carol with his own signed operation and epoch, and
    Alice's page shows every step as text, Carol vouched for by Bob. Alice then takes
    Bob's admin rights back."""
    alice, bob, carol = (signup(server, n) for n in ("alice", "bob", "carol"))
    page = open_chat(new_page, server, alice)
    conversation = start_conversation(page, [bob.email], name="Book club")
    expect(member_row(page, bob)).to_contain_text(f"{bob.email} vouched for by You")
    expect(member_row(page, alice)).to_contain_text("(admin)")

    page.get_by_role("button", name=f"Make {bob.email} an admin").click()
    expect(page.locator(".v2-operation").last).to_have_text(f"You made {bob.email} an admin")
    expect(member_row(page, bob)).to_contain_text("(admin)")
    reader = Reader(bob, conversation, [alice, bob, carol])
    assert reader.chain.state.admins == frozenset({alice.id, bob.id})

    group = reader.group([alice, bob])
    r = group.append(bob, "add", carol, with_epoch=True)
    assert r.status_code == 201, r.text
    expect(page.locator(".v2-operation").last).to_have_text(f"{bob.email} added {carol.email}")
    expect(member_row(page, carol)).to_contain_text(f"{carol.email} vouched for by {bob.email}")
    send(page, "welcome, Carol")
    expect(page.locator(".v2-message.mine .state")).to_have_text(["Sent"])
    assert Reader(carol, conversation, [alice, bob, carol]).messages() == [
        (alice.id, "welcome, Carol")]

    page.get_by_role("button", name=f"Remove {bob.email} as an admin").click()
    expect(page.locator(".v2-operation").last).to_have_text(
        f"You removed {bob.email} as an admin")
    expect(member_row(page, bob)).not_to_contain_text("(admin)")
    assert Reader(bob, conversation, [alice, bob, carol]).chain.state.admins == frozenset(
        {alice.id})
    assert page.errors == []


def test_a_rename_travels_only_in_its_epoch_and_a_member_added_later_sees_the_current_name(
        server, transactional_db, new_page):
    """Alice renames "Book club" twice in Chromium: each rename's timeline line names the
    new name, Bob (Python) opens it from the new epoch, and no stored row holds it in the
    clear. Carol, added in the browser after both renames, sees only the current name and
    no admin controls; a grant forged through her engine is refused in her page and
    stores nothing. An empty name is refused and stores nothing."""
    from messaging.models import EpochV2, MembershipOperation

    alice, bob, carol = (signup(server, n) for n in ("alice", "bob", "carol"))
    page = open_chat(new_page, server, alice)
    conversation = start_conversation(page, [bob.email], name="Book club")
    expect(page.locator("#v2-title")).to_have_text("Book club")

    rename = page.get_by_label("New group name")
    stored = operations_stored(conversation)
    rename.fill("   ")
    page.get_by_role("button", name="Rename").click()
    expect(page.locator("#v2-member-error")).to_have_text("Enter a name for the group.")
    assert operations_stored(conversation) == stored

    for name in ("Reading circle", "Poetry night"):
        rename.fill(name)
        page.get_by_role("button", name="Rename").click()
        expect(page.locator(".v2-operation").last).to_have_text(
            f"You renamed the group to “{name}”")
        expect(page.locator("#v2-title")).to_have_text(name)
        reader = Reader(bob, conversation, [alice, bob, carol])
        assert reader.epochs[max(reader.epochs)].name == name
    ops = MembershipOperation.objects.filter(conversation_id=conversation)
    rows = [bytes(op.statement) for op in ops] + [
        bytes(e.envelope) + bytes(e.statement)
        for e in EpochV2.objects.filter(conversation_id=conversation)]
    assert [op.kind for op in ops].count("rename") == 2  # the rows the probe reads
    for name in (b"Reading circle", b"Poetry night"):
        assert not any(name in row for row in rows)

    page.get_by_label("Add a member by email address").fill(carol.email)
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator(".v2-operation").last).to_have_text(f"You added {carol.email}")
    carol_page = open_chat(new_page, server, carol)
    carol_page.locator(".v2-open").click()
    expect(carol_page.locator("#v2-title")).to_have_text("Poetry night")
    expect(carol_page.locator(".v2-operation")).to_contain_text([
        f"{alice.email} renamed the conversation", f"{alice.email} renamed the conversation",
        f"{alice.email} added You"])

    # Admin controls: Alice's page has them (the positive control), Carol's none.
    expect(page.get_by_role("button", name=f"Make {carol.email} an admin")).to_be_visible()
    expect(carol_page.locator(".v2-members button:not(.v2-verify-open)")).to_have_count(0)
    expect(carol_page.get_by_label("New group name")).to_be_hidden()
    stored = operations_stored(conversation)
    carol_page.evaluate("(id) => window.chat.view.members.perform('grant-admin', id)", carol.id)
    expect(carol_page.locator("#v2-member-error")).to_have_text(
        "Not done: Only an admin may make someone an admin.")
    refused = carol_page.evaluate(
        "(id) => window.chat.engine.rename(window.chat.engine.openId, 'Mine now')"
        ".then(() => 'renamed', (e) => e.message)", carol.id)
    assert refused == "Only an admin may rename the group."
    assert operations_stored(conversation) == stored
    assert page.errors == []
    assert carol_page.errors and all("Only an admin may" in e for e in carol_page.errors)


def test_another_members_typing_shows_and_goes_on_their_message_or_after_a_while(
        server, transactional_db, new_page):
    """Bob types in his composer: Alice's page shows "Bob is typing…" (his own page does
    not), it goes when his message arrives, and shows again when he types again, then goes
    by itself when no more hints come."""
    alice, bob = signup(server, "alice"), signup(server, "bob")
    alice_page = open_chat(new_page, server, alice)
    start_conversation(alice_page, [bob.email])
    bob_page = open_chat(new_page, server, bob)
    bob_page.locator(".v2-open").click()
    typing = alice_page.locator(".v2-typing")
    expect(typing).to_have_text("")
    # A hint that would show for a minute: only Bob's message can make it go.
    alice_page.evaluate("window.chat.view.typing.showMs = 60_000")

    bob_page.get_by_label("Message", exact=True).press_sequentially("hello Al")
    expect(typing).to_have_text(f"{bob.email} is typing…")
    expect(bob_page.locator(".v2-typing")).to_have_text("")
    bob_page.get_by_label("Message", exact=True).press_sequentially("ice")
    bob_page.get_by_label("Message", exact=True).press("Enter")
    expect(texts(alice_page)).to_have_text(["hello Alice"])
    expect(typing).to_have_text("")

    # With a hint shown for a few seconds, it goes by itself when no message follows.
    # Bob types for longer than the engine's 3 s between hints, so one gets past the
    # server's limit (one per second) even if the first, right after his message, did not.
    alice_page.evaluate("window.chat.view.typing.showMs = 3000")
    bob_page.get_by_label("Message", exact=True).press_sequentially("and one more thing",
                                                                    delay=250)
    expect(typing).to_have_text(f"{bob.email} is typing…")
    expect(typing).to_have_text("")
    assert alice_page.errors == [] and bob_page.errors == []


def test_receipts_in_a_group_survive_a_reload_and_show_on_a_second_device(
        server, transactional_db, new_page):
    """Alice (Chromium) writes to Bob and Carol (Python): "Sent", then "Read by 1 of 2"
    live once Bob stores his read position, the same after a reload and on a second
    device of Alice's (another browser context), and "Read by 2 of 2" on both devices
    once Carol reads."""
    from messaging.models import ConversationV2

    alice, bob, carol = (signup(server, n) for n in ("alice", "bob", "carol"))
    page = open_chat(new_page, server, alice)
    conversation = start_conversation(page, [bob.email, carol.email], name="Receipts")
    send(page, "did you read this?")
    state = page.locator(".v2-message.mine .state")
    expect(state).to_have_text(["Sent"])
    seq = ConversationV2.objects.get(pk=conversation).last_seq

    post_read(bob, conversation, seq)
    expect(state).to_have_text(["Read by 1 of 2"])
    page = open_chat(lambda _server: page, server, alice)
    page.locator(".v2-open").click()
    state = page.locator(".v2-message.mine .state")
    expect(state).to_have_text(["Read by 1 of 2"])
    laptop = open_chat(new_page, server, alice)
    laptop.locator(".v2-open").click()
    laptop_state = laptop.locator(".v2-message.mine .state")
    expect(laptop_state).to_have_text(["Read by 1 of 2"])

    post_read(carol, conversation, seq)
    expect(state).to_have_text(["Read by 2 of 2"])
    expect(laptop_state).to_have_text(["Read by 2 of 2"])
    assert page.errors == [] and laptop.errors == []


def test_unread_counts_update_live_and_a_direct_message_shows_read(
        server, transactional_db, new_page):
    """Bob's list counts Alice's messages live while he looks at another conversation;
    opening hers clears the count, and Alice's messages then show "Read"."""
    alice, bob, carol = (signup(server, n) for n in ("alice", "bob", "carol"))
    alice_page = open_chat(new_page, server, alice)
    start_conversation(alice_page, [bob.email])
    bob_page = open_chat(new_page, server, bob)
    start_conversation(bob_page, [carol.email])  # Bob looks at another conversation
    from_alice = bob_page.locator(".v2-open", has_text=alice.email)
    send(alice_page, "one")
    expect(from_alice.locator(".v2-unread")).to_have_text("1 unread")
    send(alice_page, "two")
    expect(from_alice.locator(".v2-unread")).to_have_text("2 unread")
    expect(alice_page.locator(".v2-message.mine .state")).to_have_text(["Sent", "Sent"])

    from_alice.click()
    expect(bob_page.locator(".v2-unread")).to_have_count(0)
    expect(alice_page.locator(".v2-message.mine .state")).to_have_text(["Read", "Read"])
    assert alice_page.errors == [] and bob_page.errors == []


def epoch_with_a_garbage_stanza(group: ChainedGroup, members, victim) -> dict:
    """The next epoch, signed by the group's creator and listing every member with their
    real keys, whose stanza in ``victim``'s place encrypts to a stranger's key: it does
    not open for the victim, and opens for everyone else."""
    creator = group.creator
    number = group.epoch.number + 1
    plaintext = epochs.encode_plaintext(group.conversation_id, number, os.urandom(32), "Book club")
    stranger = _new_identity(settings.SECURECHAT_KEY_TYPE).recipient()
    recipients = [stranger if m is victim else agecrypt.parse_recipient(m.keys.recipient)
                  for m in members]
    envelope = agecrypt.encrypt(plaintext, recipients)
    statement = epochs.EpochStatement(
        group.conversation_id, number, group.epoch.envelope_hash, group.head,
        tuple(epochs.MemberEntry.of(m.keys) for m in sorted(members, key=lambda m: m.id)),
        creator.id, creator.keys.generation, hashlib.sha256(envelope).digest()).to_bytes()
    return {"envelope": b64(envelope), "statement": b64(statement),
            "signature": b64(signing.sign(creator.signing_key, statement))}


def test_an_epoch_whose_stanza_does_not_open_is_reported_and_replaced(
        server, transactional_db, new_page):
    """Alice (Python) stores an epoch listing Bob with his real keys but whose stanza for
    him does not open. Bob's page refuses it, creates a replacement epoch and sends the
    signed cannot-open notice in it, once (a reload does not send it again); Carol's page
    shows it against the epoch's creator, and Bob's next message reaches her."""
    from messaging.models import EpochV2, MessageV2

    alice, bob, carol = (signup(server, n) for n in ("alice", "bob", "carol"))
    carol_page = open_chat(new_page, server, carol)
    group = ChainedGroup(alice, [alice])
    assert group.create().status_code == 201
    assert group.append(alice, "add", bob).status_code == 201
    assert group.append(alice, "add", carol, with_epoch=True).status_code == 201
    r = alice.http.post(group.url("epochs"),
                        json.dumps(epoch_with_a_garbage_stanza(group, [alice, bob, carol], bob)))
    assert r.status_code == 201, r.text
    carol_page.locator(".v2-open").click()
    expect(carol_page.locator(".v2-operation").last).to_have_text(f"{alice.email} added You")

    bob_page = open_chat(new_page, server, bob)
    bob_page.locator(".v2-open").click()
    expect(bob_page.locator(".v2-warnings li.v2-epoch")).to_contain_text(
        "Epoch 3 was refused: this member's stanza does not open")
    line = f"could not open the keys {alice.email} made (epoch 3)"
    expect(bob_page.locator(".v2-operation").last).to_have_text(f"You {line}")
    expect(carol_page.locator(".v2-operation").last).to_have_text(f"{bob.email} {line}")
    latest = EpochV2.objects.filter(conversation_id=group.hex).order_by("-number").first()
    assert (latest.number, latest.creator_id) == (4, bob.id)

    send(bob_page, "under the replacement")
    expect(texts(carol_page)).to_have_text(["under the replacement"])
    bob_page = open_chat(lambda _server: bob_page, server, bob)  # a reload
    bob_page.locator(".v2-open").click()
    expect(texts(bob_page)).to_have_text(["under the replacement"])
    bob_page.evaluate("window.chat.engine.settled()")  # the replay judged, nothing to report
    assert MessageV2.objects.filter(conversation_id=group.hex, sender_id=bob.id).count() == 2
    assert carol_page.errors == []


def notice_document(reporter, group, *, envelope_hash: bytes | None = None,
                    bad_signature: bool = False) -> bytes:
    """A cannot-open message's plaintext: ``reporter``'s signed notice about the group's
    current epoch (or another envelope hash), its signature broken on request."""
    notice = notices.CannotOpen(group.conversation_id, group.epoch.number,
                                envelope_hash or group.epoch.envelope_hash, group.creator.id,
                                reporter.id, reporter.keys.generation)
    statement, signature = notices.sign_cannot_open(reporter.signing_key, notice)
    if bad_signature:
        signature = bytes([signature[0] ^ 1]) + signature[1:]
    doc = {"v": 2, "type": "cannot-open",
           "notice": {"statement": b64(statement), "signature": b64(signature)}}
    return json.dumps(doc, separators=(",", ":")).encode()


def test_a_cannot_open_notice_that_does_not_verify_is_a_finding_and_never_a_line(
        server, transactional_db, new_page):
    """Bob (Python) sends three cannot-open notices to Alice's page: one about keys her
    client never saw, one with a broken signature, one about the real epoch. Only the last
    shows as a line against the epoch's creator; the others are verification findings."""
    alice, bob = signup(server, "alice"), signup(server, "bob")
    page = open_chat(new_page, server, alice)
    conversation = start_conversation(page, [bob.email], name="Book club")
    group = Reader(bob, conversation, [alice, bob]).group([alice, bob])
    number = group.epoch.number
    for plaintext in (notice_document(bob, group, envelope_hash=os.urandom(32)),
                      notice_document(bob, group, bad_signature=True),
                      notice_document(bob, group)):
        r = group.send(bob, "", plaintext=plaintext, kind="notice")
        assert r.status_code == 201, r.text

    findings = page.locator(".v2-warnings li.v2-verify")
    expect(page.locator(".v2-operation").last).to_have_text(
        f"{bob.email} could not open the keys You made (epoch {number})")
    expect(findings).to_have_count(2)
    expect(findings.first).to_contain_text(
        f"A cannot-open notice from {bob.email} does not verify (a cannot-open notice about "
        f"keys this client never saw (epoch {number}))")
    expect(findings.last).to_contain_text(f"A cannot-open notice from {bob.email} does not verify")
    expect(page.locator(".v2-operation", has_text="could not open")).to_have_count(1)
