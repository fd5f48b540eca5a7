"""The main pages of the shell render cleanly on a desktop and a phone-sized screen, and
``make screenshots`` saves them into docs/screenshots/ (linked from the README).

Without ``SECURECHAT_SCREENSHOTS_DIR`` the pictures go to the test's tmp directory: the
tests still check that each page renders without a console error (a CSP violation is
one) and without horizontal scrolling on a phone. Accounts other than the one signing
up in the page are made by the client flow over HTTP (tests/browser/test_v2_chat.py's
``signup``); the contacts answer as Python clients (``client/``).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import expect

from tests.browser.test_profile import log_in
from tests.browser.test_v2_accounts import browser_login, browser_signup, open_shell
from tests.browser.test_v2_chat import HEARTBEAT, Reader, send, signup, texts
from tests.support.v2chat import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.usefixtures("fresh_database")]

PHONE = {"width": 390, "height": 844}
UPLOAD_THROTTLE = 64 * 1024  # bytes/s: a 4 MiB upload stays in progress for a while
UPLOADED_A_TENTH = """() => {
  const bar = document.querySelector('progress[aria-label="Uploading trip-video.mp4"]');
  return bar !== null && bar.value / bar.max > 0.1;
}"""


@pytest.fixture(scope="module")
def server(shared_servers, test_bundle):
    """One uvicorn for the module, serving the test build of the bundles (the shell
    derives keys at the tests' work factor)."""
    return shared_servers.start("uvicorn", SECURECHAT_TEST_BUNDLE_DIR=str(test_bundle.dir),
                                SECURECHAT_RATE_SIGNUP_ADDRESS="1000/3600",
                                SECURECHAT_WS_HEARTBEAT_SECONDS=str(HEARTBEAT))


@pytest.fixture
def shot(tmp_path):
    """``shot(page, name, show=locator)``: saves the page (scrolled to ``show``) and
    checks it has no console error and does not scroll sideways."""
    out = Path(os.environ.get("SECURECHAT_SCREENSHOTS_DIR") or tmp_path / "screenshots")
    out.mkdir(parents=True, exist_ok=True)

    def take(page, name, show=None, block="start"):
        if show is not None:  # the shell is one column: bring the subject into the picture
            show.evaluate("(e, block) => e.scrollIntoView({block})", block)
        page.wait_for_timeout(150)  # let fonts and focus rings settle
        page.screenshot(path=str(out / f"{name}.png"))
        assert page.evaluate(
            "() => document.documentElement.scrollWidth <= window.innerWidth + 1"), name
        assert page.errors == [], (name, page.errors)

    return take


def phone_page(new_page, server):
    return new_page(server, viewport=PHONE, is_mobile=True, has_touch=True)


def test_signed_out_pages_and_the_recovery_code(server, new_page, shot):
    """Login, signup (desktop and phone) and the recovery code a new account is shown."""
    for page, suffix in ((new_page(server), ""), (phone_page(new_page, server), "-phone")):
        open_shell(page)
        expect(page.locator("#v2-login")).to_be_visible()
        shot(page, f"login{suffix}")
        page.locator("#v2-login").get_by_role("button", name="Sign up").click()
        page.locator("#v2-signup-form").get_by_label("Email address").fill("carol@example.com")
        shot(page, f"signup{suffix}")
    page = new_page(server)
    browser_signup(page, "dana@example.com")
    expect(page.locator("#v2-recovery-code .recovery-group")).to_have_count(6)
    shot(page, "recovery-code")


def test_profile_with_two_factor_setup(server, new_page, shot):
    """The profile (/me/) after the step-up, with the authenticator's QR code showing."""
    user = signup(server, "pia")
    page = new_page(server)
    page.goto("/me/")  # login first, then back to the profile
    log_in(page, user.email)
    expect(page.locator("#v2-profile-email-address")).to_have_text(user.email)
    page.locator("#v2-profile-totp-password").fill(PASSWORD)
    page.get_by_role("button", name="Set up an authenticator app").click()
    qr = page.locator("#v2-profile-totp-qr")
    expect(qr).to_be_visible()
    assert qr.evaluate("img => img.complete && img.naturalWidth > 0")
    shot(page, "two-factor-setup", qr, block="center")


def push_new_key(alice, bob, carol) -> None:
    """Bob's directory entry gets a second generation and Alice's session is told, as
    the server does on a key rotation (tests/browser/test_v2_chat.py's live-notice test)."""
    from accounts.events import user_group
    from accounts.models import KeyGeneration
    from messaging.v2.actions import KEYS_EVENT_TYPE

    KeyGeneration.objects.filter(user_id=bob.id).update(retired_at=timezone.now())
    KeyGeneration.objects.create(user_id=bob.id, number=2, key_type=settings.SECURECHAT_KEY_TYPE,
                                 recipient=carol.identity.recipient(),
                                 signing_public_key=carol.identity.signing_public_key())
    push = async_to_sync(get_channel_layer().group_send)
    with ThreadPoolExecutor(1) as pool:  # Playwright holds this thread's loop
        pool.submit(push, user_group(alice.id), {"type": KEYS_EVENT_TYPE, "user": bob.id,
                                                 "generation": 2}).result()


def throttle(cdp, upload: int) -> None:
    """Limits the page's upload rate (-1: unlimited); one CDP session sets and lifts it."""
    cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": upload})


def attach(page, name: str, data: bytes, mime: str) -> None:
    page.get_by_label("Attach a file (or drop files on the conversation)").set_input_files(
        files=[{"name": name, "mimeType": mime, "buffer": data}])


def test_conversations_an_upload_a_group_and_the_key_change_notice(server, new_page, shot):
    """Alice, signed in through the shell, writes with Bob (a Python client): text both
    ways, a file message and a second file still uploading; the conversation list; a
    group; the same account on a phone; and the notice when Bob's key changes."""
    from messaging.models import ConversationV2

    alice, bob, carol = (signup(server, name) for name in ("alice", "bob", "carol"))
    page = new_page(server)
    browser_login(page, alice.email)
    expect(page.locator(".v2-status")).to_have_text("Connected")

    page.get_by_label("Email address(es), separated by commas").fill(
        f"{bob.email}, {carol.email}")
    page.get_by_label("Group name (for a group)").fill("Book club")
    page.get_by_role("button", name="Start conversation").click()
    expect(page.locator("#v2-title")).to_have_text("Book club")
    send(page, "Next month: The Left Hand of Darkness?")
    expect(page.locator(".v2-message.mine .state")).to_have_text(["Sent"])
    shot(page, "group-conversation", page.locator(".v2-conversation"))

    page.get_by_label("Email address(es), separated by commas").fill(bob.email)
    page.get_by_label("Group name (for a group)").fill("")
    page.get_by_role("button", name="Start conversation").click()
    expect(page.locator(".v2-timeline .v2-message")).to_have_count(0)
    send(page, "Hi Bob! The photos from Saturday are coming.")
    expect(page.locator(".v2-message.mine .state")).to_have_text(["Sent"])
    conversation = ConversationV2.objects.filter(kind="direct").get().pk
    reply = Reader(bob, conversation, [alice, bob]).group([alice, bob])
    assert reply.send(bob, "Great, thanks. Send them over whenever.").status_code == 201
    expect(texts(page)).to_have_text(["Hi Bob! The photos from Saturday are coming.",
                                      "Great, thanks. Send them over whenever."])
    attach(page, "saturday.jpg", os.urandom(300 * 1024), "image/jpeg")
    expect(page.locator(".v2-message.mine.sent .file-name")).to_have_text(["saturday.jpg"],
                                                                        timeout=30_000)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    throttle(cdp, UPLOAD_THROTTLE)
    attach(page, "trip-video.mp4", os.urandom(4 * 1024 * 1024), "video/mp4")
    progress = page.get_by_label("Uploading trip-video.mp4")
    expect(progress).to_be_visible(timeout=20_000)
    page.wait_for_function(UPLOADED_A_TENTH)  # the bar shows some progress
    shot(page, "conversation-upload", page.locator(".v2-conversation"))
    throttle(cdp, -1)
    expect(page.locator(".v2-message.mine.sent .file-name")).to_have_text(
        ["saturday.jpg", "trip-video.mp4"], timeout=60_000)

    page.reload()  # the list, with no conversation open
    expect(page.locator(".v2-open")).to_have_count(2)
    expect(page.locator(".v2-open").filter(has_text="Book club")).to_have_count(1)
    shot(page, "conversation-list", page.get_by_role("region", name="Conversations"))

    phone = phone_page(new_page, server)
    browser_login(phone, alice.email)
    expect(phone.locator(".v2-open")).to_have_count(2)
    # The group's name comes with its epoch, opened after the list shows: wait for it, or
    # "not Book club" below would still match both buttons.
    expect(phone.locator(".v2-open").filter(has_text="Book club")).to_have_count(1)
    shot(phone, "conversation-list-phone", phone.get_by_role("region", name="Conversations"))
    phone.locator(".v2-open").filter(has_not_text="Book club").click()
    expect(phone.locator(".v2-timeline .v2-message")).to_have_count(4)
    shot(phone, "conversation-phone", phone.locator(".v2-conversation"))

    dark = new_page(server, color_scheme="dark")  # the system's dark mode
    browser_login(dark, alice.email)
    expect(dark.locator(".v2-open").filter(has_text="Book club")).to_have_count(1)
    dark.locator(".v2-open").filter(has_not_text="Book club").click()
    expect(dark.locator(".v2-timeline .v2-message")).to_have_count(4)
    shot(dark, "conversation-dark", dark.locator(".v2-conversation"))

    page.locator(".v2-open").filter(has_not_text="Book club").click()
    expect(page.locator(".v2-members li")).to_have_count(2)
    push_new_key(alice, bob, carol)
    expect(page.locator(".v2-alerts li.v2-key-change")).to_have_text(
        [f"{bob.email} has a new key (generation 2)."])
    shot(page, "key-change-notice", page.locator(".v2-alerts"), block="center")
