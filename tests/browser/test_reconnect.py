"""The websocket survives a server restart: a banner while it is down, automatic
reconnection, and catch-up by ``sync`` with every message exactly once, in order."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser import flows

pytestmark = [pytest.mark.browser]


def test_server_restart_while_contact_keeps_sending_shows_every_message_once_in_order(
        start_server, new_page):
    """Bob keeps sending while the server process is stopped and started again on the
    same port and database; Alice's open page (never reloaded) ends with every message
    exactly once and in order, and so does Bob's, each acknowledged ("Sent"/"Read")."""
    server = start_server("uvicorn")
    alice, bob, _conversation, _ = flows.two_logged_in_users(server, new_page)
    loads = []
    for page in (alice, bob):
        page.on("load", lambda: loads.append(1))

    texts = [f"message {i}" for i in range(1, 8)]
    flows.send(bob, texts[0])
    flows.send(bob, texts[1])
    expect(flows.bubbles(alice)).to_have_text(texts[:2])

    old_pid = server.pid
    server.stop()
    for page in (alice, bob):
        expect(page.locator("#connection-banner")).to_be_visible()
        expect(page.locator("#connection-text")).to_contain_text("Reconnecting")
    flows.send(bob, texts[2])  # during the downtime
    flows.send(bob, texts[3])
    expect(bob.locator("#messages .message.mine .state")).to_have_text(
        [re_sent_or_read(), re_sent_or_read(), "Sending…", "Sending…"])
    server.start()
    assert server.pid != old_pid
    for text in texts[4:]:
        flows.send(bob, text)  # right after the restart, reconnected or not yet

    expect(flows.bubbles(alice)).to_have_text(texts, timeout=30_000)
    expect(flows.bubbles(bob)).to_have_text(texts)
    expect(bob.locator("#messages .message.mine .state")).to_have_text(
        [re_sent_or_read()] * len(texts))
    for page in (alice, bob):
        expect(page.locator("#connection-banner")).to_be_hidden()
    # Exactly once, in seq order, on both sides.
    for page in (alice, bob):
        seqs = [int(s) for s in page.locator("#messages .message").evaluate_all(
            "els => els.map(e => e.dataset.seq)")]
        assert seqs == list(range(1, len(texts) + 1))
    assert loads == []
    # The only console errors are the refused connection attempts of the downtime.
    for page in (alice, bob):
        assert [e for e in page.errors if "ERR_CONNECTION_REFUSED" not in e] == []


def re_sent_or_read():
    import re

    return re.compile(r"^(Sent|Read)$")
