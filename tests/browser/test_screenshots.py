"""The main pages render cleanly on a desktop and a phone-sized screen, and
``make screenshots`` saves them into docs/screenshots/ (linked from the README).

Without ``SECURECHAT_SCREENSHOTS_DIR`` the pictures go to the test's tmp
directory: the test still checks that each page renders without a console
error (a CSP violation is one) and without horizontal scrolling on a phone.
"""

from __future__ import annotations

import os
import random
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser import flows
from tests.browser.test_uploads import drop_file, put_file_in_page

pytestmark = [pytest.mark.browser]

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def no_horizontal_scroll(page) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_main_pages_render_on_desktop_and_phone(start_server, new_page, tmp_path):
    """Signup, 2FA setup, the conversation list, a conversation with a file and an upload
    in progress, and the key-change notice: each renders without errors."""
    out = Path(os.environ.get("SECURECHAT_SCREENSHOTS_DIR") or tmp_path / "screenshots")
    out.mkdir(parents=True, exist_ok=True)
    server = start_server("uvicorn")

    def shot(page, name):
        page.wait_for_timeout(150)  # let fonts and focus rings settle
        page.screenshot(path=str(out / f"{name}.png"))
        assert no_horizontal_scroll(page), name

    visitor = new_page(server)
    visitor.goto("/")
    shot(visitor, "landing")
    visitor.goto("/signup/")
    visitor.get_by_label("Email").fill("carol@example.com")
    shot(visitor, "signup")
    phone_visitor = new_page(server, viewport=PHONE, is_mobile=True, has_touch=True)
    phone_visitor.goto("/signup/")
    shot(phone_visitor, "signup-phone")

    alice, bob, conversation, _ = flows.two_logged_in_users(server, new_page)
    alice.goto("/account/two-factor/")
    alice.get_by_label("Current password").fill(flows.PASSWORD)
    alice.get_by_role("button", name="Start setup").click()
    expect(alice.locator(".qr-code svg")).to_be_visible()
    shot(alice, "two-factor-setup")

    alice.goto(f"/c/{conversation}/")
    for text in ("Hi Bob! The photos from Saturday are coming.",
                 "Great, thanks. Send them over whenever."):
        page = alice if text.startswith("Hi") else bob
        flows.send(page, text)
        expect(flows.bubbles(alice).last).to_have_text(text)
    small = random.Random(1).randbytes(300 * 1024)
    put_file_in_page(alice, small)
    drop_file(alice)
    expect(alice.locator("#messages .file-card")).to_have_count(1, timeout=30_000)
    expect(alice.locator("#uploads .upload")).to_have_count(0)  # the finished row goes away
    flows.send(bob, "Got it, thank you!")
    expect(flows.bubbles(alice).last).to_have_text("Got it, thank you!")

    cdp = alice.context.new_cdp_session(alice)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 256 * 1024})
    put_file_in_page(alice, random.Random(2).randbytes(6 * 1024 * 1024))
    alice.evaluate("""() => { window.testFile = new File([window.testFile], "trip-video.mp4",
                              {type: "video/mp4"}); }""")
    drop_file(alice)
    progress = alice.locator("#uploads progress")
    expect(progress).to_be_visible()
    alice.wait_for_function(
        "() => Number(document.querySelector('#uploads progress')?.value) > 8")
    expect(alice.locator("#uploads .upload-stats")).to_contain_text("left")
    shot(alice, "conversation-upload")
    alice.locator("#uploads").get_by_role("button", name="Cancel").click()
    expect(alice.locator("#uploads .upload")).to_have_count(0)
    cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})

    alice.goto("/")
    expect(alice.locator("#conversation-list .conversation-link")).to_have_count(1)
    shot(alice, "conversation-list")

    phone = new_page(server, viewport=PHONE, is_mobile=True, has_touch=True)
    flows.login(phone, "bob@example.com")
    shot(phone, "conversation-list-phone")
    phone.locator("#conversation-list .conversation-link").first.click()
    expect(flows.bubbles(phone)).to_have_count(4)
    shot(phone, "conversation-phone")

    flows.reset_without_recovery_code(server, "bob@example.com")
    alice.goto(f"/c/{conversation}/")  # the notice comes with the page (sync / list)
    expect(alice.get_by_role("alertdialog", name="Security keys changed")).to_be_visible()
    expect(alice.locator("#key-change-fingerprint")).to_have_text(
        re.compile(r"^\s*(\d{5}\s*){12}$"))
    shot(alice, "key-change-notice")

    for page in (visitor, phone_visitor, alice, bob, phone):
        assert page.errors == [], page.errors
