"""Two people sign up, verify their email, turn on TOTP, log in with a code and
chat live both ways, each in their own browser context, without a reload."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser import flows

pytestmark = [pytest.mark.browser]


@pytest.mark.slow  # about 60 s: two signups, TOTP enrolment and logins in Chromium
def test_two_users_sign_up_enable_totp_log_in_with_a_code_and_chat_live(start_server,
                                                                        new_page):
    """The whole first-day path of two users, then messages arrive live in both directions.

    A navigation counter proves "without reloading": after the chat opens, no
    page load happens in either context while the messages are exchanged.
    """
    server = start_server("uvicorn")
    alice, bob = new_page(server), new_page(server)
    users = {}
    for page, email in ((alice, "alice@example.com"), (bob, "bob@example.com")):
        flows.signup(page, email)
        flows.verify_email(page, server, email)
        secret, backup_codes, used = flows.enable_totp(page)
        flows.logout(page)
        flows.login(page, email, totp_secret=secret, last_code=used)
        users[email] = secret

    conversation = flows.open_chat(alice, "bob@example.com")
    bob.goto(f"/c/{conversation}/")
    expect(bob.locator("#conversation-title")).to_have_text("alice@example.com")

    loads = {"alice": 0, "bob": 0}
    alice.on("load", lambda: loads.__setitem__("alice", loads["alice"] + 1))
    bob.on("load", lambda: loads.__setitem__("bob", loads["bob"] + 1))

    flows.send(alice, "Hello Bob, this is Alice.")
    expect(flows.bubbles(bob)).to_have_text(["Hello Bob, this is Alice."])
    expect(bob.locator("#messages .message").last).to_contain_text("alice@example.com")
    flows.send(bob, "Hi Alice! Bob here.")
    expect(flows.bubbles(alice)).to_have_text(["Hello Bob, this is Alice.",
                                               "Hi Alice! Bob here."])
    # Bob has the conversation open and visible: Alice's message shows as read.
    expect(alice.locator("#messages .message.mine .state")).to_have_text("Read")
    bob.get_by_label("Message", exact=True).press_sequentially("typing…", delay=200)
    expect(alice.locator("#typing-indicator")).to_contain_text("bob@example.com is typing")
    flows.send(bob, "And a second one.")
    expect(flows.bubbles(alice)).to_have_count(3)
    expect(flows.bubbles(bob)).to_have_text(["Hello Bob, this is Alice.", "Hi Alice! Bob here.",
                                             "And a second one."])
    assert loads == {"alice": 0, "bob": 0}
    assert alice.errors == [] and bob.errors == []
