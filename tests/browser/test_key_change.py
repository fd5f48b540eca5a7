"""The blocking key-change notice: after a contact's keys change without an
endorsement (a password reset without the recovery code), sending to them is
blocked until the user has seen the new fingerprint and accepted it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser import flows

pytestmark = [pytest.mark.browser]

FINGERPRINT = re.compile(r"^\s*(\d{5}\s*){12}$")


def test_key_change_blocks_sending_until_the_user_accepts(start_server, new_page):
    """Alice's open page: her next message is refused and the notice with Bob's new
    fingerprint appears; the composer stays disabled (no text, no files) until she
    accepts; then her message goes through and Bob, logged in again, reads it."""
    server = start_server("uvicorn")
    alice, bob, conversation, _ = flows.two_logged_in_users(server, new_page)
    flows.send(alice, "before the reset")
    expect(flows.bubbles(bob)).to_have_text(["before the reset"])
    notice = alice.get_by_role("alertdialog", name="Security keys changed")
    expect(notice).to_be_hidden()  # positive control: no notice while keys are unchanged
    alice.get_by_role("button", name="Verify keys").click()
    old_fingerprint = alice.locator("#contact-fingerprint").inner_text()
    assert re.fullmatch(r"(\d{5}\s*){12}", old_fingerprint.strip())

    flows.reset_without_recovery_code(server, "bob@example.com")

    flows.send(alice, "are you still there?")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("bob@example.com")
    expect(alice.locator("#key-change-fingerprint")).to_have_text(FINGERPRINT)
    new_fingerprint = alice.locator("#key-change-fingerprint").inner_text()
    assert re.fullmatch(r"(\d{5}\s*){12}", new_fingerprint.strip())
    assert new_fingerprint.split() != old_fingerprint.split()
    expect(alice.locator("#messages .message.mine").last.locator(".state")).to_have_text(
        "Not sent")
    box = alice.get_by_label("Message", exact=True)
    expect(box).to_be_disabled()
    expect(alice.get_by_role("button", name="Send", exact=True)).to_be_disabled()
    expect(alice.get_by_label("Attach files")).to_be_disabled()
    expect(alice.get_by_role("button", name="Accept the new keys")).to_be_focused()

    # A fresh page load (another tab) shows the notice too: the server keeps the pin.
    tab = alice.context.new_page()
    tab.goto(f"/c/{conversation}/")
    expect(tab.get_by_role("alertdialog", name="Security keys changed")).to_be_visible()
    expect(tab.get_by_label("Message", exact=True)).to_be_disabled()
    tab.close()

    alice.get_by_role("button", name="Accept the new keys").click()
    expect(notice).to_be_hidden()
    expect(box).to_be_enabled()
    failed = alice.locator("#messages .message.mine").filter(has_text="are you still there?")
    failed.get_by_role("button", name="Send this message again").click()
    expect(failed.locator(".state")).to_have_text(re.compile("^(Sent|Read)$"))
    flows.send(alice, "welcome back")
    expect(alice.locator("#messages .message.mine").last.locator(".state")).to_have_text(
        re.compile("^(Sent|Read)$"))
    alice.reload()
    expect(notice).to_be_hidden()
    expect(alice.get_by_role("button", name="Verify keys")).to_be_visible()

    flows.login(bob, "bob@example.com", password=flows.NEW_PASSWORD)
    bob.goto(f"/c/{conversation}/")
    # Bob's new keys cannot open what was sent before his reset (he has no recovery code);
    # what Alice sent after accepting reads fine.
    expect(flows.bubbles(bob)).to_have_count(3)
    expect(flows.bubbles(bob).nth(1)).to_have_text("are you still there?")
    expect(flows.bubbles(bob).nth(2)).to_have_text("welcome back")
    assert alice.errors == [] and bob.errors == []
