"""Replies, reactions, edits and "Delete for everyone" in the browser's v2 chat (issue 15).

User stories with Alice and Bob on the module's live server: each runs the chat in a
page of it (tests/browser/test_v2_chat.py's ``open_chat``), or Bob is a Python client
(tests/support/v2chat.py) that seals and signs whatever document a test needs, such as
an edit of a message that is not his. The wire format is checked by opening what was
stored with the Python client's own code.
"""

from __future__ import annotations

import base64
import re

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
    expect(quote).to_have_text(f"{bob.email}where do we meet on Friday?")

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
