"""Replies, reactions, edits and "Delete for everyone" in the browser's v2 chat (issue 15).

User stories with Alice and Bob on the module's live server: each runs the chat in a
page of it (tests/browser/test_v2_chat.py's ``open_chat``), or Bob is a Python client
(tests/support/v2chat.py) that seals and signs whatever document a test needs, such as
an edit of a message that is not his. The wire format is checked by opening what was
stored with the Python client's own code.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import time

import pytest
from playwright.sync_api import expect

from client import messagebox
from tests.browser.test_v2_chat import (
    BASE,
    HEARTBEAT,
    Reader,
    open_chat,
    send,
    signup,
    start_conversation,
    texts,
)
from tests.support.bundle import ensure_built
from tests.support.live import LiveServer

pytestmark = [pytest.mark.browser]


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker, redis_url, tmp_path_factory):
    """One uvicorn for the module, on the test database (tests commit: transactional_db)."""
    ensure_built()
    live = LiveServer("uvicorn", tmp_path_factory.mktemp("v2-actions-server"),
                      extra_env={"SECURECHAT_RATE_SIGNUP_ADDRESS": "1000/3600",
                                 "SECURECHAT_WS_HEARTBEAT_SECONDS": str(HEARTBEAT)}).start()
    yield live
    live.stop()


def bubble(page, text: str):
    """The message bubble (.v2-message) whose own text (not a quote of it) holds ``text``."""
    return page.locator(".v2-timeline .v2-message").filter(
        has=page.locator(".text", has_text=text))


def documents(reader: Reader) -> list[tuple[int, str, dict]]:
    """(sender, signed kind, opened document) of every stored message, in seq order, each
    verified and opened by the Python client in its own context."""
    items = reader.user.http.json(f"{BASE}/{reader.id}/timeline?after=0")["items"]
    found = []
    for item in items:
        if item["type"] != "message":
            continue
        opened = reader.epochs[item["epoch"]]
        context = messagebox.MessageContext(
            reader.cid, item["epoch"], opened.statement.envelope_hash, item["sender"],
            reader.by_id[item["sender"]].generation, bytes.fromhex(item["device_id"]),
            item["counter"])
        box, statement = base64.b64decode(item["box"]), base64.b64decode(item["statement"])
        verified = messagebox.verify_statement(
            reader.by_id[item["sender"]].ed25519, statement,
            base64.b64decode(item["signature"]), context=context, box=box)
        doc = messagebox.parse_plaintext(messagebox.open_box(opened.secret, context, box))
        found.append((item["sender"], verified.kind, doc))
    return found


def shown_hash(page, text: str) -> str:
    """The hash of the message the page shows with ``text`` (from its store)."""
    return page.evaluate("""(text) => {
      const conv = window.chat.engine.conversations.get(window.chat.engine.openId);
      return conv.items.find((item) => item.text === text).hash;
    }""", text)


def test_a_reply_quotes_its_original_and_jumps_to_it(server, transactional_db, new_page):
    """Bob (Python) asks a question, then chats on until it scrolls away; Alice replies to
    it from its "Reply" action: the composer shows what she answers, the stored reply
    carries only the original's hash and her text, her reply quotes the original, and a
    click on the quote scrolls the original into view, highlighted."""
    alice, bob = signup(server, "alice"), signup(server, "bob")
    page = open_chat(new_page, server, alice)
    conversation = start_conversation(page, [bob.email])
    bob_sends = Reader(bob, conversation, [alice, bob]).group([alice, bob])
    assert bob_sends.send(bob, "where do we meet on Friday?").status_code == 201
    for i in range(14):
        assert bob_sends.send(bob, f"small talk {i}").status_code == 201
    expect(texts(page)).to_have_count(15)

    original = bubble(page, "where do we meet on Friday?")
    original.hover()
    original.get_by_role("button", name=f"Reply to {bob.email}").click()
    expect(page.locator("#v2-intent")).to_have_text(
        f"Replying to {bob.email}: where do we meet on Friday? Cancel")
    send(page, "at the station, 6 pm")
    reply = bubble(page, "at the station, 6 pm")
    expect(reply.locator(".state")).to_have_text("Sent")
    expect(page.locator("#v2-intent")).to_be_hidden()
    quote = reply.locator(".v2-quote")
    expect(quote).to_have_text(f"{bob.email}: where do we meet on Friday?")

    target = shown_hash(page, "where do we meet on Friday?")
    sender, kind, doc = documents(Reader(bob, conversation, [alice, bob]))[-1]
    assert (sender, kind) == (alice.id, "reply")
    assert doc == {"v": 2, "type": "reply", "target": target, "text": "at the station, 6 pm"}

    quote.scroll_into_view_if_needed()
    expect(original).not_to_be_in_viewport()  # the control: the jump has somewhere to go
    quote.click()
    expect(original).to_be_in_viewport()
    expect(original).to_have_class(re.compile(r"\bv2-found\b"))
    assert page.errors == []


def open_first_conversation(page) -> None:
    page.locator(".v2-open").first.click()
    expect(page.locator(".v2-conversation")).to_be_visible()


def react(page, text: str, emoji: str) -> None:
    """Picks ``emoji`` in the reaction picker of the message showing ``text``."""
    message = bubble(page, text)
    message.hover()
    message.get_by_role("button", name="React", exact=True).click()
    message.get_by_role("button", name=f"React with {emoji}").click()


def edit(page, text: str, new_text: str) -> None:
    """Edits one's own message showing ``text`` through its "Edit" action."""
    message = bubble(page, text)
    message.hover()
    message.get_by_role("button", name="Edit").click()
    expect(page.locator("#v2-intent")).to_have_text(f"Editing: {text} Cancel")
    box = page.get_by_label("Message", exact=True)
    expect(box).to_have_value(text)
    box.fill(new_text)
    box.press("Enter")


def test_a_reaction_and_an_edit_are_seen_live_by_the_other_person(
        server, transactional_db, new_page):
    """Bob reacts 👍 to Alice's question: her page shows the count and his name at once;
    she adds hers (2, both names), he takes his back by clicking it (1, hers). She edits
    the question: his page shows the new text marked "edited", never the old one. What was
    stored are signed reaction and edit documents naming the question's hash."""
    alice, bob = signup(server, "alice"), signup(server, "bob")
    alice_page = open_chat(new_page, server, alice)
    conversation = start_conversation(alice_page, [bob.email])
    send(alice_page, "lunch at noon?")
    bob_page = open_chat(new_page, server, bob)
    open_first_conversation(bob_page)
    expect(texts(bob_page)).to_have_text(["lunch at noon?"])

    react(bob_page, "lunch at noon?", "👍")
    on_alice = bubble(alice_page, "lunch at noon?").locator(".v2-reaction")
    expect(on_alice).to_have_text("👍 1")
    expect(on_alice).to_have_attribute("title", bob.email)
    react(alice_page, "lunch at noon?", "👍")
    expect(on_alice).to_have_text("👍 2")
    expect(on_alice).to_have_attribute("title", f"{bob.email}, You")
    expect(on_alice).to_have_attribute("aria-pressed", "true")
    on_bob = bubble(bob_page, "lunch at noon?").locator(".v2-reaction")
    expect(on_bob).to_have_attribute("title", f"You, {alice.email}")
    on_bob.click()  # his own reaction again: taken back
    expect(on_alice).to_have_text("👍 1")
    expect(on_alice).to_have_attribute("title", "You")
    expect(on_bob).to_have_attribute("aria-pressed", "false")

    edit(alice_page, "lunch at noon?", "lunch at one?")
    expect(texts(bob_page)).to_have_text(["lunch at one? (edited)"])
    expect(texts(alice_page)).to_have_text(["lunch at one? (edited)"])

    target = shown_hash(alice_page, "lunch at one?")
    assert documents(Reader(bob, conversation, [alice, bob])) == [
        (alice.id, "text", {"v": 2, "type": "text", "text": "lunch at noon?"}),
        (bob.id, "reaction", {"v": 2, "type": "reaction", "target": target, "emoji": "👍"}),
        (alice.id, "reaction", {"v": 2, "type": "reaction", "target": target, "emoji": "👍"}),
        (bob.id, "reaction", {"v": 2, "type": "reaction", "target": target, "emoji": ""}),
        (alice.id, "edit", {"v": 2, "type": "edit", "target": target, "text": "lunch at one?"}),
    ]
    assert alice_page.errors == [] and bob_page.errors == []


def test_an_edit_by_another_member_is_shown_as_invalid_and_changes_nothing(
        server, transactional_db, new_page):
    """Bob (Python) signs an edit of Alice's message: her page keeps her text and says he
    tried to edit it. Her own edit (the control) changes it; his second try after that
    changes nothing either."""
    alice, bob = signup(server, "alice"), signup(server, "bob")
    page = open_chat(new_page, server, alice)
    conversation = start_conversation(page, [bob.email])
    send(page, "the meeting is at 3")
    expect(page.locator(".v2-message.mine .state")).to_have_text(["Sent"])
    target = shown_hash(page, "the meeting is at 3")
    bob_sends = Reader(bob, conversation, [alice, bob]).group([alice, bob])

    def forge(text: str) -> None:
        doc = {"v": 2, "type": "edit", "target": target, "text": text}
        r = bob_sends.send(bob, "", kind="edit", plaintext=json.dumps(doc).encode())
        assert r.status_code == 201, r.text

    forge("the meeting is cancelled")
    invalid = page.locator(".v2-invalid-edit")
    expect(invalid).to_have_text([f"{bob.email} tried to edit your message: not applied."])
    expect(texts(page)).to_have_text(["the meeting is at 3"])

    edit(page, "the meeting is at 3", "the meeting is at 4")
    expect(texts(page)).to_have_text(["the meeting is at 4 (edited)"])
    forge("the meeting moved to Mars")
    expect(invalid).to_have_count(2)
    expect(texts(page)).to_have_text(["the meeting is at 4 (edited)"])
    assert page.errors == []


def search(page, query: str):
    """Searches with Ctrl+K (search.js); the result list."""
    page.keyboard.press("Control+K")
    page.get_by_label("Search messages").fill(query)
    return page.locator(".v2-search-result")


def test_delete_for_everyone_offers_undo_then_leaves_nothing_of_the_message(
        server, transactional_db, new_page):
    """Alice's message has Bob's ❤️, her edit and his reply, and his search finds it (the
    control). "Delete for everyone" waits for an Undo: undone, the message stays and
    nothing is sent. Deleted, both pages say "deleted for everyone" at once, its reaction
    and "edited" are gone, Bob's reply quotes a "Deleted message", and his search no longer
    finds it. The server stored one signed unsend naming its hash, and the tombstone."""
    from messaging.models import MessageV2

    alice, bob = signup(server, "alice"), signup(server, "bob")
    marker = f"rendezvous-{secrets.token_hex(4)}"
    alice_page = open_chat(new_page, server, alice)
    conversation = start_conversation(alice_page, [bob.email])
    send(alice_page, f"the code word is {marker}")
    bob_page = open_chat(new_page, server, bob)
    open_first_conversation(bob_page)
    react(bob_page, marker, "❤️")
    edit(alice_page, f"the code word is {marker}", f"the code word is {marker}, really")
    expect(texts(bob_page).first).to_have_text(f"the code word is {marker}, really (edited)")
    on_bob = bubble(bob_page, marker)
    on_bob.hover()
    on_bob.get_by_role("button", name=f"Reply to {alice.email}").click()
    send(bob_page, "got it")
    quote = bubble(bob_page, "got it").locator(".v2-quote")
    expect(quote).to_have_text(f"{alice.email}: the code word is {marker}, really")
    expect(search(bob_page, marker)).to_have_count(1)
    target = shown_hash(alice_page, f"the code word is {marker}, really")
    seq = bubble(alice_page, marker).get_attribute("data-seq")

    mine = bubble(alice_page, marker)
    mine.hover()
    mine.get_by_role("button", name="Delete for everyone").click()
    expect(mine.locator(".v2-unsending")).to_have_text(
        "This message will be deleted for everyone. Undo")
    mine.get_by_role("button", name="Undo").click()
    expect(mine.locator(".v2-unsending")).to_have_count(0)
    expect(texts(bob_page).first).to_contain_text(marker)
    mine.hover()
    mine.get_by_role("button", name="Delete for everyone").click()

    for page in (alice_page, bob_page):
        deleted = page.locator(f".v2-message[data-seq='{seq}']")
        expect(deleted.locator(".text")).to_have_text("This message was deleted for everyone.")
        expect(deleted.locator(".v2-reaction")).to_have_count(0)
        expect(deleted.locator(".v2-edited")).to_have_count(0)
    expect(bob_page.locator(".v2-timeline")).not_to_contain_text(marker)
    expect(quote).to_have_text("Deleted message")
    expect(bob_page.locator(".v2-search-result")).to_have_count(0)  # the open results too
    expect(bob_page.locator("#v2-search-status")).to_have_text("Nothing found.")
    expect(search(bob_page, marker[:-1])).to_have_count(0)

    unsends = [(sender, doc) for sender, kind, doc in
               documents(Reader(bob, conversation, [alice, bob])) if kind == "unsend"]
    # One unsend: the undone one never left the page.
    assert unsends == [(alice.id, {"v": 2, "type": "unsend", "target": target})]
    stored = MessageV2.objects.get(conversation_id=conversation, message_hash=bytes.fromhex(target))
    assert stored.removed_reason == "unsend"
    assert alice_page.errors == [] and bob_page.errors == []


# Records the body of every notification the page closes, from the real "close" event.
RECORD_CLOSED = """() => {
  window.closedNotifications = [];
  const Real = window.Notification;
  window.Notification = class extends Real {
    constructor(title, options) {
      super(title, options);
      this.addEventListener("close", () => window.closedNotifications.push(this.body));
    }
  };
}"""


def poll(page, expression: str, length: int, timeout_s: float = 10) -> list:
    """The list ``expression`` evaluates to, once it has ``length`` items (polled from
    Python: the page's CSP refuses the string evaluation wait_for_function polls with)."""
    deadline = time.monotonic() + timeout_s
    while len(value := page.evaluate(expression)) != length:
        assert time.monotonic() < deadline, value
        page.wait_for_timeout(50)
    return value


def test_a_message_deleted_for_everyone_closes_its_notification(
        server, transactional_db, new_page):
    """Bob, notified with text, looks at another conversation when Alice (Python) deletes
    her newest message for everyone: its notification closes and its text is forgotten;
    the record of her other message stays (the control). Opening the conversation shows
    the tombstone."""
    alice, bob, carol = (signup(server, n) for n in ("alice", "bob", "carol"))
    marker = f"surprise-{secrets.token_hex(4)}"

    def prepare(page):
        page.context.grant_permissions(["notifications"], origin=server.url)
        page.add_init_script(f"({RECORD_CLOSED})()")

    page = open_chat(new_page, server, bob, prepare=prepare)
    with_alice = start_conversation(page, [alice.email])
    start_conversation(page, [carol.email])  # the open one from now on
    page.get_by_text("Notifications", exact=True).click()
    page.get_by_label("Notify me of new messages while this tab is open").check()
    page.get_by_label("Include the message text").check()
    alice_sends = Reader(alice, with_alice, [alice, bob]).group([alice, bob])
    assert alice_sends.send(alice, "see you then").status_code == 201
    r = alice_sends.send(alice, f"party for Carol: {marker}")
    assert r.status_code == 201, r.text
    target = r.json()["items"][0]["message_hash"]
    bodies = "() => window.chat.view.notifier.shown.map((record) => record.body)"
    assert poll(page, bodies, 2) == ["see you then", f"party for Carol: {marker}"]
    # One notification per conversation is on screen: the newer replaced the older.
    assert page.evaluate("window.closedNotifications") == ["see you then"]

    assert alice_sends.unsend(alice, bytes.fromhex(target)).status_code == 201
    assert poll(page, bodies, 1) == ["see you then"]
    assert page.evaluate("window.closedNotifications") == [
        "see you then", f"party for Carol: {marker}"]
    page.locator(".v2-open", has_text=alice.email).click()
    expect(texts(page)).to_have_text(["see you then", "This message was deleted for everyone."])
    assert page.errors == []
