"""Every page and major state of the shell, checked with axe-core in Chromium on a desktop,
a phone and in dark mode (issue 15, "Phone and accessibility", must-show 2).

One walk-through per screen mode visits the signed-out pages (login, signup with its
errors, the recovery code, the emailed confirmation page, the forgotten-password pages
with the warning of a reset without the recovery code), the code step of a two-factor
login (a mistyped code first, then the right one logs in at once), the chat (empty, a new
conversation, messages both ways, a group, the safety number and the camera scan, the
notice of a contact's new key, the list, a message over the limit, search results,
the settings) and the profile (before the address is verified,
two-factor set-up, backup codes, two-factor on). In each state axe-core
(node_modules/axe-core, injected into the page) finds no violation of impact "serious"
or "critical", no two elements share an id, and on the phone nothing scrolls sideways. On
the phone the header is one line with a menu button (Esc closes it) and the composer one
row; everywhere Esc closes the Verify panel and a conversation's button names its newest
message and time. A planted violation shows the checks can fail. The contacts are Python
clients (tests/browser/test_v2_chat.py's ``signup``).
"""
from __future__ import annotations

import re
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import expect

from accounts.models import ForgivingTOTPDevice, User
from tests.accounts import enrol_totp, fresh_code
from tests.browser.flows import wait_for_link
from tests.browser.test_screenshots import push_new_key
from tests.browser.test_v2_accounts import browser_login, browser_signup, open_shell
from tests.browser.test_v2_chat import HEARTBEAT, Reader, send, signup, texts
from tests.support.v2chat import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.usefixtures("fresh_database")]

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
MODES = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
    "dark": {"viewport": {"width": 1280, "height": 800}, "color_scheme": "dark"},
}
STATES = ["login", "signup", "signup with errors", "recovery code", "chat without conversations",
          "profile before the address is verified", "email confirmation",
          "message over the limit", "search results", "settings open",
          "forgot password", "reset link sent", "reset without the recovery code",
          "code step", "code step after a wrong code", "conversation list",
          "new conversation", "conversation with messages",
          "a reply, a reaction and the emoji picker", "group", "safety number",
          "QR scan", "key-change notice", "profile", "two-factor set-up", "backup codes",
          "two-factor on", "page not found"]
RUN_AXE = """async () => {
  const result = await axe.run(document, { resultTypes: ["violations"] });
  return result.violations.filter((v) => ["serious", "critical"].includes(v.impact))
    .map((v) => ({ id: v.id, impact: v.impact, help: v.help,
                   nodes: v.nodes.map((n) => [n.target.join(" "), n.failureSummary]) }));
}"""
DUPLICATE_IDS = """() => {
  const seen = new Map();
  for (const element of document.querySelectorAll("[id]")) {
    seen.set(element.id, (seen.get(element.id) ?? 0) + 1);
  }
  return [...seen].filter(([, count]) => count > 1).map(([id]) => id);
}"""


@pytest.fixture(scope="module")
def server(shared_servers, test_bundle):
    """One uvicorn for the module, serving the test build of the bundles."""
    return shared_servers.start("uvicorn", SECURECHAT_TEST_BUNDLE_DIR=str(test_bundle.dir),
                                SECURECHAT_RATE_SIGNUP_ADDRESS="1000/3600",
                                SECURECHAT_WS_HEARTBEAT_SECONDS=str(HEARTBEAT))


class Scanner:
    """Runs the checks of one state and keeps what it found: ``scan(page, state)``."""

    def __init__(self, mode: str):
        self.mode, self.scanned, self.problems = mode, [], []

    def scan(self, page, state: str) -> None:
        page.wait_for_timeout(100)  # let transitions and focus settle before measuring
        if not page.evaluate("() => typeof axe !== 'undefined'"):
            page.add_script_tag(path=str(AXE))
        for violation in page.evaluate(RUN_AXE):
            nodes = "\n      ".join(f"{target}: {summary}" for target, summary
                                     in violation["nodes"])
            self.problems.append(f"[{self.mode}] {state}: {violation['impact']} "
                                 f"{violation['id']} ({violation['help']})\n      {nodes}")
        if duplicates := page.evaluate(DUPLICATE_IDS):
            self.problems.append(f"[{self.mode}] {state}: duplicate ids {duplicates}")
        if self.mode == "phone":
            width = page.evaluate("() => document.documentElement.scrollWidth")
            if width > 390:
                self.problems.append(f"[{self.mode}] {state}: the page is {width} px wide")
        self.scanned.append(state)


def axe_page(new_page, server, mode: str):
    # The site's CSP (script-src 'self' with hashes) refuses an injected script, so the
    # axe contexts, and only they, bypass it: the app's own CSP is tested elsewhere.
    return new_page(server, bypass_csp=True, **MODES[mode])


PLANTED = """() => {
  const image = Object.assign(document.createElement("img"), { src: "data:," });
  const twin = Object.assign(document.createElement("span"), { id: "v2-login" });
  document.querySelector("main").append(image, twin);
  return () => { image.remove(); twin.remove(); };
}"""


def positive_control(page, scanner):
    """The checks can fail: an image without a text alternative (critical for axe) and a
    second element with a taken id, planted in the page, are both reported."""
    page.evaluate(f"() => {{ window.unplant = ({PLANTED})(); }}")
    control = Scanner(scanner.mode)
    control.scan(page, "control")
    assert any("image-alt" in p for p in control.problems), control.problems
    assert any("duplicate ids ['v2-login']" in p for p in control.problems), control.problems
    page.evaluate("window.unplant()")


def signed_out_pages(page, scanner, server, resetting):
    """Login, signup (empty, refused), the recovery code, the forgotten-password pages."""
    scan = scanner.scan
    open_shell(page)
    expect(page.locator("#v2-login")).to_be_visible()
    positive_control(page, scanner)
    expect(page.get_by_role("link", name="Forgot password?")).to_be_visible()
    scan(page, "login")
    page.locator("#v2-login").get_by_role("button", name="Sign up").click()
    form = page.locator("#v2-signup-form")
    expect(form).to_be_visible()
    scan(page, "signup")
    form.get_by_label("Email address").fill("not an address")
    form.get_by_label("Password", exact=True).fill("short")
    form.get_by_label("Password again").fill("other")
    form.get_by_role("button", name="Sign up").click()
    expect(page.locator("#v2-signup-errors p")).to_have_count(3)
    scan(page, "signup with errors")
    form.get_by_label("Email address").fill(f"new-{scanner.mode}@example.com")
    form.get_by_label("Password", exact=True).fill(PASSWORD)
    form.get_by_label("Password again").fill(PASSWORD)
    form.get_by_role("button", name="Sign up").click()
    expect(page.locator("#v2-recovery-code .recovery-group")).to_have_count(6)
    scan(page, "recovery code")
    page.get_by_label("I saved my recovery code").check()
    page.locator("#v2-recovery-form").get_by_role("button", name="Continue").click()
    expect(page.locator("#v2-chat")).to_be_visible()
    expect(page.locator(".v2-status")).to_have_text("Connected")
    scan(page, "chat without conversations")
    nav_action(page, "Profile")
    expect(page.locator("#v2-profile-totp-verify-first")).to_be_visible()
    scan(page, "profile before the address is verified")
    nav_action(page, "Log out")
    expect(page.locator("#v2-login")).to_be_visible()
    page.goto(wait_for_link(server, f"new-{scanner.mode}@example.com", "/verify-email/"))
    expect(page.get_by_role("button", name="Confirm my email address")).to_be_visible()
    if scanner.mode == "phone":  # a server-rendered page folds its links the same way
        expect(page.get_by_role("button", name="Menu")).to_have_attribute(
            "aria-expanded", "false")
        expect(page.locator("#site-nav-links")).to_be_hidden()
    scan(page, "email confirmation")
    open_shell(page)

    page.get_by_role("link", name="Forgot password?").click()
    form = page.locator("#v2-reset-request-form")
    expect(form).to_be_visible()
    scan(page, "forgot password")
    form.get_by_label("Email address").fill(resetting.email)
    form.get_by_role("button", name="Send the reset link").click()
    expect(page.locator("#v2-reset-request-done")).to_contain_text("reset link")
    scan(page, "reset link sent")
    page.goto(wait_for_link(server, resetting.email, "/password-reset/"))
    form = page.locator("#v2-reset-form")
    form.get_by_label(re.compile("I don't have it")).check()
    expect(page.locator("#v2-reset-warning")).to_contain_text("can no longer be read")
    scan(page, "reset without the recovery code")


def nav_action(page, name: str) -> None:
    """A link or button of the header's navigation (behind the menu button on a phone)."""
    nav = page.get_by_role("navigation", name="Account")
    menu = nav.get_by_role("button", name="Menu")
    if menu.is_visible():
        if menu.get_attribute("aria-expanded") != "true":
            menu.click()
    nav.get_by_role("link", name=name).or_(nav.get_by_role("button", name=name)).click()


def code_step(page, scanner, email: str):
    """A two-factor login: the code step, a mistyped code, then the right one."""
    open_shell(page)
    form = page.locator("#v2-login-form")
    form.get_by_label("Email address").fill(email)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Log in").click()
    expect(page.locator("#v2-code")).to_be_visible()
    scanner.scan(page, "code step")
    device = ForgivingTOTPDevice.objects.get(user__email=email)
    right = fresh_code(device)
    page.locator("#v2-code-input").fill(f"{(int(right) + 1) % 1_000_000:06d}")
    page.locator("#v2-code-form").get_by_role("button", name="Continue").click()
    expect(page.locator("#v2-code-errors")).to_be_visible()
    expect(page.locator("#v2-code-errors")).not_to_contain_text("Try again")  # no wait
    scanner.scan(page, "code step after a wrong code")
    page.locator("#v2-code-input").fill(right)  # the right code straight after the typo
    page.locator("#v2-code-form").get_by_role("button", name="Continue").click()
    expect(page.locator("#v2-chat")).to_be_visible()  # logged in: the typo cost nothing


def chat_states(page, scanner, fake_camera, alice, bob, carol):
    """The list, a new conversation, messages both ways, a group, verifying, a new key."""
    from messaging.models import ConversationV2

    scan = scanner.scan
    browser_login(page, alice.email)
    expect(page.locator(".v2-status")).to_have_text("Connected")
    page.get_by_label("Email address(es), separated by commas").fill(
        f"{bob.email}, {carol.email}")
    page.get_by_label("Group name (for a group)").fill("Book club")
    page.get_by_role("button", name="Start conversation").click()
    expect(page.locator("#v2-title")).to_have_text("Book club")
    send(page, "Next month: The Left Hand of Darkness?")
    expect(page.locator(".v2-message.mine .state")).to_have_text(["Sent"])
    scan(page, "group")

    page.get_by_label("Email address(es), separated by commas").fill(bob.email)
    page.get_by_label("Group name (for a group)").fill("")
    page.get_by_role("button", name="Start conversation").click()
    expect(page.locator(".v2-empty")).to_be_visible()
    scan(page, "new conversation")
    send(page, "Hi Bob! https://example.org/photos are coming.")
    expect(page.locator(".v2-message.mine .state")).to_have_text(["Sent"])
    conversation = ConversationV2.objects.filter(kind="direct", members__user=bob.id).get().pk
    reply = Reader(bob, conversation, [alice, bob]).group([alice, bob])
    assert reply.send(bob, "Great, thanks.").status_code == 201
    expect(texts(page)).to_have_count(2)
    scan(page, "conversation with messages")
    theirs = page.locator(".v2-message.theirs", has_text="Great, thanks.")
    theirs.hover()
    theirs.get_by_role("button", name=re.compile("^Reply to")).click()
    send(page, "You're welcome.")
    expect(page.locator(".v2-message.mine", has_text="You're welcome.").locator(".state")
           ).to_have_text("Sent")
    theirs.hover()
    theirs.get_by_role("button", name="React", exact=True).click()
    theirs.get_by_role("button", name="React with 👍").click()
    expect(theirs.locator(".v2-reaction")).to_have_count(1)
    theirs.hover()
    theirs.get_by_role("button", name="React", exact=True).click()  # the picker stays open
    scan(page, "a reply, a reaction and the emoji picker")
    box = page.get_by_label("Message", exact=True)
    box.fill("x" * 40_000)  # over the largest message box
    expect(page.locator("#v2-text-counter")).to_contain_text("Too long")
    scan(page, "message over the limit")
    box.fill("")
    search = page.get_by_role("searchbox", name="Search messages")
    search.fill("Darkness")
    expect(page.get_by_role("list", name="Search results").get_by_role("listitem")
           ).to_have_count(1)
    scan(page, "search results")
    search.fill("")
    for summary in ("Notifications", "Privacy"):
        page.locator("summary", has_text=summary).click()
    scan(page, "settings open")

    page.get_by_role("button", name=f"Verify {bob.email}").click()
    panel = page.locator(".v2-verify")
    expect(panel.locator(".v2-safety-number .v2-group")).to_have_count(12)
    scan(page, "safety number")
    fake_camera.show(None)  # no code in view: the camera stays on until stopped
    panel.get_by_role("button", name=f"Scan {bob.email}'s code with the camera").click()
    expect(panel.locator("video")).to_be_visible()
    scan(page, "QR scan")
    panel.get_by_role("button", name="Stop the camera").click()
    expect(panel.locator("video")).to_be_hidden()
    page.keyboard.press("Escape")  # Esc closes the panel
    expect(panel).to_be_hidden()

    push_new_key(alice, bob, carol)
    expect(page.locator(".v2-alerts li.v2-key-change")).to_have_count(1)
    scan(page, "key-change notice")
    page.reload()
    expect(page.locator(".v2-open")).to_have_count(2)
    # A screen reader hears who, the newest message and its time in the button's name.
    entry = page.get_by_role("button", name=re.compile(
        rf"^{re.escape(bob.email)}.*\d{{1,2}}:\d\d.*: You're welcome\.$"))  # Alice's reply
    expect(entry).to_have_count(1)
    scan(page, "conversation list")
    if scanner.mode == "phone":
        entry.click()
        phone_layout(page)


def boxes(page, *locators):
    """The elements' boxes in the viewport, read in one go: opening a conversation may
    still scroll the page, and boxes read one call at a time around a scroll disagree
    (the sticky header's button once read 500 px above its brand)."""
    handles = [locator.element_handle() for locator in locators]
    return page.evaluate("(elements) => elements.map((e) => e.getBoundingClientRect().toJSON())",
                         handles)


def phone_layout(page):
    """On a 390-pixel screen: the header is one line, its links behind a menu button that
    Esc closes; the composer is one row, its buttons icons named for screen readers."""
    menu = page.get_by_role("navigation", name="Account").get_by_role("button", name="Menu")
    links = page.locator("#site-nav-links")
    header, brand, menu_box = boxes(page, page.locator(".site-header"), page.locator(".brand"),
                                    menu)
    assert header["height"] <= 64, header
    assert abs(menu_box["y"] - brand["y"]) < 16, (menu_box, brand)
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(links).to_be_hidden()
    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(links.get_by_role("link", name="Profile")).to_be_visible()
    page.keyboard.press("Escape")
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(links).to_be_hidden()
    expect(menu).to_be_focused()

    composer = page.get_by_role("form", name="Write a message")
    box, attach, send_button = boxes(page, composer.get_by_label("Message", exact=True),
                                     composer.locator("label[for=v2-attach]"),
                                     composer.get_by_role("button", name="Send"))
    expect(composer.get_by_label("Attach a file (or drop files on the conversation)")
           ).to_have_count(1)
    assert attach["width"] <= 48 and send_button["width"] <= 90, (attach, send_button)
    assert attach["x"] < box["x"] < send_button["x"], (attach, box, send_button)
    assert box["width"] >= 390 * 0.5, box  # the message box keeps most of the row
    bottoms = {round(b["y"] + b["height"]) for b in (box, attach, send_button)}
    assert max(bottoms) - min(bottoms) <= 2, (box, attach, send_button)  # one row


def profile_states(page, scanner, alice):
    """The profile, the authenticator's QR code and the backup codes."""
    nav_action(page, "Profile")
    expect(page.locator("#v2-profile-email-address")).to_have_text(alice.email)
    scanner.scan(page, "profile")
    page.locator("#v2-profile-totp-password").fill(PASSWORD)
    page.get_by_role("button", name="Set up an authenticator app").click()
    expect(page.locator("#v2-profile-totp-qr")).to_be_visible()
    scanner.scan(page, "two-factor set-up")
    device = ForgivingTOTPDevice.objects.get(user__email=alice.email, confirmed=False)
    page.locator("#v2-profile-totp-confirm-code").fill(fresh_code(device))
    page.get_by_role("button", name="Confirm", exact=True).click()
    expect(page.locator("#v2-profile-totp-codes-list li")).to_have_count(10)
    scanner.scan(page, "backup codes")
    page.get_by_role("button", name="I saved my backup codes").click()
    expect(page.locator("#v2-profile-totp-state")).to_contain_text(
        "Two-factor authentication is on")
    scanner.scan(page, "two-factor on")
    page.goto("/no/such/page/")
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()  # the server's page
    scanner.scan(page, "page not found")


def test_every_page_and_state_passes_axe_on_desktop_phone_and_dark(
        server, new_page, fake_camera):
    scanned, problems = [], []
    for mode in MODES:
        scanner = Scanner(mode)
        alice, bob, carol, resetting = (signup(server, f"{name}-{mode}") for name in
                                        ("alice", "bob", "carol", "rita"))
        guarded = signup(server, f"gus-{mode}")
        enrol_totp(User.objects.get(pk=guarded.id))

        page = axe_page(new_page, server, mode)
        signed_out_pages(page, scanner, server, resetting)
        code_step(axe_page(new_page, server, mode), scanner, guarded.email)
        page = axe_page(new_page, server, mode)
        chat_states(page, scanner, fake_camera, alice, bob, carol)
        profile_states(page, scanner, alice)

        assert sorted(scanner.scanned) == sorted(STATES), scanner.scanned
        scanned += [f"{mode}: {state}" for state in scanner.scanned]
        problems += scanner.problems
        for context_page in page.context.pages:
            assert context_page.errors == [], context_page.errors
    print(f"{len(scanned)} scans:\n  " + "\n  ".join(scanned))
    assert len(scanned) == len(STATES) * len(MODES) >= 45
    assert problems == [], "\n" + "\n".join(problems)


HALF_LOGIN_STATES = ["email check of a half login", "two-factor enrolment of a half login",
                     "backup codes of a half login"]


def test_the_stages_of_a_half_login_pass_axe_on_desktop_phone_and_dark(
        start_server, test_bundle, new_page):
    """Where every account needs two-factor, a new account passes two stages before the
    chat: the emailed link, then the authenticator and its backup codes."""
    strict = start_server("uvicorn", SECURECHAT_TEST_BUNDLE_DIR=str(test_bundle.dir),
                          SECURECHAT_REQUIRE_2FA="1")
    scanned, problems = [], []
    for mode in MODES:
        scanner, email = Scanner(mode), f"hal-{mode}@example.org"
        page = axe_page(new_page, strict, mode)
        browser_signup(page, email)
        page.get_by_label("I saved my recovery code").check()
        page.get_by_role("button", name="Continue").click()
        expect(page.locator("#v2-verify")).to_be_visible()
        scanner.scan(page, "email check of a half login")
        mailbox = page.context.new_page()
        mailbox.goto(wait_for_link(strict, email, "/verify-email/"))
        mailbox.get_by_role("button", name="Confirm my email address").click()
        # The POST is done when its page shows: only then may the page go on.
        expect(mailbox.get_by_role("heading", name="Email address confirmed")).to_be_visible()
        mailbox.close()
        page.get_by_role("button", name="I opened the link: continue").click()
        secret = page.locator("#v2-enrol-secret")
        expect(page.locator("#v2-enrol-qr")).to_be_visible()
        scanner.scan(page, "two-factor enrolment of a half login")
        page.locator("#v2-enrol-confirm-code").fill(
            pyotp.TOTP(secret.inner_text().replace(" ", "")).now())
        page.get_by_role("button", name="Confirm", exact=True).click()
        expect(page.locator("#v2-enrol-codes-list li")).to_have_count(10)
        scanner.scan(page, "backup codes of a half login")
        assert scanner.scanned == HALF_LOGIN_STATES, scanner.scanned
        scanned += [f"{mode}: {state}" for state in scanner.scanned]
        problems += scanner.problems
    print(f"{len(scanned)} scans:\n  " + "\n  ".join(scanned))
    assert len(scanned) == len(HALF_LOGIN_STATES) * len(MODES)
    assert problems == [], "\n" + "\n".join(problems)
