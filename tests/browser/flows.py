"""What a user does in the browser, step by step, through the real pages.

Each helper drives visible controls by their labels and roles (so it also
checks that the pages are labelled for assistive technology), and reads
email the way a user does: from the live server's mail outbox.
"""

from __future__ import annotations

import email
import re
import time
from pathlib import Path

import pyotp
from playwright.sync_api import Page, expect

PASSWORD = "a long enough browser passphrase 42"
LINK = re.compile(r"https?://\S+")


def mails(server) -> list[tuple[str, str]]:
    """Every email in the server's file outbox, oldest first, as (To, decoded body)."""
    files = sorted(Path(server.mail_dir).glob("*.log"), key=lambda p: p.stat().st_mtime)
    out = []
    for path in files:
        for raw in path.read_text(errors="replace").split("\n" + "-" * 79 + "\n"):
            if not raw.strip():
                continue
            message = email.message_from_string(raw.lstrip("\n"))
            part = next((p for p in message.walk() if p.get_content_type() == "text/plain"),
                        message)
            body = part.get_payload(decode=True) or b""
            out.append((message.get("To", ""), body.decode("utf-8", "replace")))
    return out


def wait_for_link(server, to: str, contains: str, timeout: float = 15) -> str:
    """The newest link containing ``contains`` in a mail to ``to``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for recipient, body in reversed(mails(server)):
            if to.lower() in recipient.lower():
                links = [u for u in LINK.findall(body) if contains in u]
                if links:
                    return links[-1]
        time.sleep(0.1)
    raise AssertionError(f"no mail to {to} with a link containing {contains!r}")


def mark_page(page: Page) -> str:
    """Put a random marker on the loaded document; any full page load wipes it."""
    return page.evaluate("window.__noReload = crypto.randomUUID()")


def assert_same_page(page: Page, marker: str | None) -> None:
    """No full page load happened since ``mark_page`` returned ``marker`` (None: not checked,
    e.g. with JavaScript off, where every submit is a page load)."""
    if marker is not None:
        assert page.evaluate("window.__noReload") == marker, "the page was reloaded"


def signup(page: Page, email: str, password: str = PASSWORD, reload_free: bool = True) -> str:
    """Sign up, save the recovery code shown, confirm it; returns the code.

    With ``reload_free`` the step from the form to the recovery code happens in place
    (focus on the new heading); confirming it enters the chat app with one navigation.
    """
    page.goto("/signup/")
    marker = mark_page(page) if reload_free else None
    page.get_by_label("Email").fill(email)
    page.get_by_label(re.compile(r"^Password")).fill(password)
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url("**/signup/recovery-code/")
    heading = page.get_by_role("heading", name="Save your recovery code")
    expect(heading).to_be_visible()
    if reload_free:
        expect(heading).to_be_focused()
    assert_same_page(page, marker)
    code = page.locator("#recovery-code code").inner_text().strip()
    assert len(code) >= 20
    page.get_by_label(re.compile("saved my recovery code", re.I)).check()
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(lambda url: "recovery-code" not in url)
    return code


def verify_email(page: Page, server, email: str) -> None:
    link = wait_for_link(server, email, "/verify-email/")
    page.goto(link)  # a GET only shows the button
    page.get_by_role("button", name="Confirm my email address").click()
    expect(page.get_by_role("heading", name="Email address confirmed")).to_be_visible()


def totp_now(secret: str, after_code: str | None = None) -> str:
    """The current code; waits for the next period if it equals one already used."""
    totp = pyotp.TOTP(secret)
    code = totp.now()
    while code == after_code:
        time.sleep(0.5)
        code = totp.now()
    return code


def enable_totp(page: Page, password: str = PASSWORD,
                reload_free: bool = True) -> tuple[str, list[str], str]:
    """Set up an authenticator from the shown secret; returns (secret, backup codes, code used).

    With ``reload_free`` the QR code and then the backup codes appear without a page load.
    """
    page.goto("/account/two-factor/")
    marker = mark_page(page) if reload_free else None
    page.get_by_label("Current password").fill(password)
    page.get_by_role("button", name="Start setup").click()
    expect(page.locator(".qr-code svg")).to_be_visible()
    assert_same_page(page, marker)
    secret = page.locator(".qr-code .secret-code").inner_text().replace(" ", "").strip()
    code = totp_now(secret)
    page.get_by_role("textbox", name=re.compile(r"^Code")).fill(code)
    page.get_by_role("button", name="Confirm").click()
    heading = page.get_by_role("heading", name="Your backup codes")
    expect(heading).to_be_visible()
    if reload_free:
        expect(heading).to_be_focused()
    assert_same_page(page, marker)
    backup = [c.strip() for c in page.locator("#backup-codes code").all_inner_texts()]
    assert len(backup) == 10
    return secret, backup, code


def logout(page: Page) -> None:
    page.goto("/")
    page.get_by_role("button", name="Log out").first.click()
    page.wait_for_url("**/login/**")


def login(page: Page, email: str, password: str = PASSWORD, totp_secret: str | None = None,
          last_code: str | None = None, reload_free: bool = True) -> None:
    """Log in (with the code step when ``totp_secret``) and land in the chat app.

    With ``reload_free`` the code step appears in place; entering the chat app is the one
    navigation of the flow.
    """
    page.goto("/login/")
    marker = mark_page(page) if reload_free else None
    page.get_by_label("Email").fill(email)
    page.get_by_label(re.compile(r"^Password")).fill(password)
    page.get_by_role("button", name="Log in").click()
    if totp_secret:
        page.wait_for_url("**/login/code/**")
        heading = page.get_by_role("heading", name="Enter your authentication code")
        expect(heading).to_be_visible()
        if reload_free:
            expect(heading).to_be_focused()
        assert_same_page(page, marker)
        code_box = page.get_by_role("textbox", name=re.compile(r"^Code"))
        code_box.fill(totp_now(totp_secret, last_code))
        page.get_by_role("button", name="Verify").click()
    page.wait_for_url(lambda url: "/login" not in url)
    expect(page.locator("#chat-app")).to_be_visible()


def open_chat(page: Page, email: str) -> int:
    """Start (or reopen) a conversation with ``email`` from the app; returns its id."""
    page.get_by_label("Start a conversation").fill(email)
    page.get_by_role("button", name="Start", exact=True).click()
    page.wait_for_url(re.compile(r"/c/\d+/$"))
    expect(page.locator("#conversation")).to_be_visible()
    return int(re.search(r"/c/(\d+)/$", page.url).group(1))


def send(page: Page, text: str) -> None:
    box = page.get_by_label("Message", exact=True)
    box.fill(text)
    box.press("Enter")


def bubbles(page: Page):
    return page.locator("#messages .message .bubble")


def two_logged_in_users(server, new_page, names=("alice", "bob")):
    """Two verified users made by the real signup action, each logged in through the
    login page in their own browser context, with a conversation open on both sides.

    Returns (page_a, page_b, conversation id, (user_a, user_b)).
    """
    from tests.support.accounts import make_user

    users = [make_user(f"{name}@example.com", password=PASSWORD) for name in names]
    pages = [new_page(server) for _ in users]
    for page, user in zip(pages, users, strict=True):
        login(page, user.email)
    conversation = open_chat(pages[0], users[1].email)
    pages[1].goto(f"/c/{conversation}/")
    expect(pages[1].locator("#conversation")).to_be_visible()
    return pages[0], pages[1], conversation, users


NEW_PASSWORD = "a brand new passphrase after reset"


def reset_without_recovery_code(server, email: str) -> None:
    """The contact forgot everything: an emailed reset link, new password, new keys."""
    from tests.support.clients import ApiClient

    with ApiClient(server.url) as client:
        assert client.post("/api/v1/auth/password-reset", {"email": email}).status_code == 200
        link = wait_for_link(server, email, "/password-reset/")
        uid, token = re.search(r"/password-reset/([^/]+)/([^/]+)/", link).groups()
        response = client.post("/api/v1/auth/password-reset/confirm",
                               {"uid": uid, "token": token, "new_password": NEW_PASSWORD})
        assert response.status_code == 200, response.text
        assert response.json()["keys_kept"] is False
