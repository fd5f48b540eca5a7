"""The shell's routes and the profile page (/me/) in Chromium, against one live server:
the path picks the view (login first, then back to the profile), two-factor enrolment
with the QR code under the CSP, a login with a code, new backup codes, an email change
confirmed from the mailed link (the keys re-derived under the new address's salt), a
session revoked, and the account deleted with this browser's storage wiped. Every
step-up derives ``auth_key`` in the page; no request carries the password.
"""

from __future__ import annotations

import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import ForgivingTOTPDevice, User
from tests.accounts import fresh_code
from tests.accounts.test_client_keys import PASSWORD, Device
from tests.browser.flows import wait_for_link

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("fresh_database")]

EMAIL = "pia@example.org"
NEW_EMAIL = "pia.new@example.org"


@pytest.fixture(scope="module")
def server(shared_servers, test_bundle):
    """One uvicorn for the module, serving the test build of the bundles."""
    return shared_servers.start("uvicorn", SECURECHAT_TEST_BUNDLE_DIR=str(test_bundle.dir))


def seed(email: str) -> Device:
    """A version 2 account made with the client library (keys made here), verified."""
    device = Device(email)
    assert device.signup().status_code == 201
    User.objects.filter(email=email).update(email_verified_at=timezone.now())
    return device


def sent_requests(page) -> list[str]:
    bodies = []
    page.on("request", lambda r: bodies.append(r.post_data or ""))
    return bodies


def log_in(page, email, code=None):
    form = page.locator("#v2-login-form")
    form.get_by_label("Email address").fill(email)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Log in").click()
    if code is not None:
        expect(page.locator("#v2-code")).to_be_visible()
        page.locator("#v2-code-input").fill(code)
        page.locator("#v2-code-form").get_by_role("button", name="Continue").click()


def step_up(page, prefix, code=None):
    page.locator(f"#{prefix}-password").fill(PASSWORD)
    if code is not None:
        page.locator(f"#{prefix}-code").fill(code)


def backup_codes(page) -> list[str]:
    codes = page.locator("#v2-profile-totp-codes-list li")
    expect(codes).to_have_count(10)
    shown = codes.all_inner_texts()
    page.get_by_role("button", name="I saved my backup codes").click()
    expect(page.locator("#v2-profile-totp-codes")).to_have_count(0)
    return shown


def test_routes_and_unknown_paths(server, new_page):
    page = new_page(server)
    page.goto("/v2/")  # the old address of the shell
    assert page.url == server.url + "/"
    expect(page.locator("#v2-login")).to_be_visible()
    marker = page.evaluate("() => (window.marker = Math.random())")
    page.get_by_role("navigation", name="Account").get_by_role("link", name="Sign up").click()
    expect(page.locator("#v2-signup")).to_be_visible()
    assert page.url.endswith("/signup/")
    page.go_back()
    expect(page.locator("#v2-login")).to_be_visible()
    print("URL after back", page.url)
    assert page.evaluate("() => window.marker") == marker  # no page load: pushState
    # A path no view registered (in-app navigation) shows "not found".
    page.evaluate("() => { history.pushState({}, '', '/nowhere/');"
                  " dispatchEvent(new PopStateEvent('popstate')); }")
    expect(page.locator("#v2-notfound")).to_be_visible()
    page.goto("/me/")
    expect(page.locator("#v2-login")).to_be_visible()  # login first
    assert page.errors == [], page.errors


def test_profile_two_factor_email_change_sessions_and_deletion(server, new_page):
    seed(EMAIL)
    page = new_page(server)
    sent = sent_requests(page)
    page.goto("/me/")
    log_in(page, EMAIL)
    # Back to the profile after the login.
    expect(page.locator("#v2-profile-email-address")).to_have_text(EMAIL)
    assert page.url.endswith("/me/")
    expect(page.locator("#v2-profile-otp")).to_have_text("off")

    # Two-factor: step-up, QR code (an <img> that loaded under the CSP) and secret.
    step_up(page, "v2-profile-totp")
    page.get_by_role("button", name="Set up an authenticator app").click()
    qr = page.locator("#v2-profile-totp-qr")
    expect(qr).to_be_visible()
    assert qr.evaluate("img => img.complete && img.naturalWidth > 0")
    assert page.locator("#v2-profile-totp-secret").inner_text().replace(" ", "")
    device = ForgivingTOTPDevice.objects.get(user__email=EMAIL, confirmed=False)
    page.locator("#v2-profile-totp-confirm-code").fill(fresh_code(device))
    page.get_by_role("button", name="Confirm", exact=True).click()
    first_codes = backup_codes(page)
    expect(page.locator("#v2-profile-otp")).to_have_text("on")

    # Log out, log in again with a code (the login lands on the chat at /).
    page.get_by_role("navigation", name="Account").get_by_role("button", name="Log out").click()
    expect(page.locator("#v2-login")).to_be_visible()
    log_in(page, EMAIL, code=fresh_code(ForgivingTOTPDevice.objects.get(user__email=EMAIL)))
    expect(page.locator("#v2-home-email")).to_have_text(EMAIL)
    page.get_by_role("navigation", name="Account").get_by_role("link", name="Profile").click()
    assert page.url.endswith("/me/")

    # New backup codes (step-up with a backup code); the old ones die.
    step_up(page, "v2-profile-totp", code=first_codes[0])
    page.get_by_role("button", name="Make new backup codes").click()
    codes = backup_codes(page)
    assert not set(codes) & set(first_codes)

    # Email change: re-derived under the new address's salt, confirmed from the link.
    page.get_by_label("New email address").fill(NEW_EMAIL)
    step_up(page, "v2-profile-email", code=codes[0])
    page.get_by_role("button", name="Send a confirmation link").click()
    expect(page.locator("#v2-profile-pending-email")).to_have_text(NEW_EMAIL)
    link = wait_for_link(server, NEW_EMAIL, "/me/email/confirm/")
    confirm_tab = page.context.new_page()
    confirm_tab.goto(link)
    confirm_tab.get_by_role("button", name="Use this address for my account").click()
    expect(confirm_tab.get_by_text(f"Your account now uses {NEW_EMAIL}")).to_be_visible()
    confirm_tab.close()
    assert User.objects.filter(email=NEW_EMAIL).exists()

    # Another session (a device logging in under the new address with the same
    # password: the new keys are in force); revoke it from the list.
    other = Device(NEW_EMAIL)
    assert other.login().json()["otp_required"] is True
    assert other.post("/api/v1/auth/otp", {"code": codes[1]}).status_code == 200
    nav = page.get_by_role("navigation", name="Account")
    nav.get_by_role("link", name="Chat").click()
    expect(page.locator("#v2-home-email")).to_be_visible()
    nav.get_by_role("link", name="Profile").click()
    expect(page.locator("#v2-profile-email-address")).to_have_text(NEW_EMAIL)
    rows = page.locator("#v2-profile-sessions-list li")
    expect(rows).to_have_count(2)
    other_row = rows.filter(has_not_text="this session")
    other_row.get_by_role("button", name=re.compile("Log out")).click()
    expect(rows).to_have_count(1)
    assert other.http.get("/api/v1/me").status_code == 401

    # Deletion: confirm box, step-up under the new address; back to the login, wiped.
    page.get_by_label(re.compile("I understand")).check()
    step_up(page, "v2-profile-delete", code=codes[2])
    page.get_by_role("button", name="Delete my account").click()
    expect(page.locator("#v2-login")).to_be_visible()
    assert page.url.endswith("/login/")
    expect(page.locator("#v2-status")).to_contain_text("deleted")
    assert not User.objects.filter(email__in=[EMAIL, NEW_EMAIL]).exists()
    stored = page.evaluate("() => Object.fromEntries(Object.entries(localStorage))")
    assert "securechat/v2/device-blob" not in stored
    assert NEW_EMAIL not in stored.get("securechat/v2/known-accounts", "")
    assert not any(PASSWORD in body for body in sent)
    assert page.errors == [], page.errors


def nudge_decision(page) -> str:
    """The two-factor nudge's decision on the chat page, once the page made it."""
    box = page.locator("#v2-nudge[data-two-factor-nudge]")
    expect(box).to_have_count(1)
    return box.get_attribute("data-two-factor-nudge")


def test_two_factor_waits_for_the_address_then_a_nudge_offers_it_until_dismissed(
        server, new_page):
    """Unverified, the profile's two-factor section says to verify first and resends the
    link; verified, the chat nudges once per browser until "Not now" (remembered across
    reloads); turning two-factor on ends the nudge and the profile says it is on."""
    email = "nudge@example.org"
    assert Device(email).signup().status_code == 201  # not verified
    page = new_page(server)
    page.goto("/login/")
    log_in(page, email)
    assert nudge_decision(page) == "not-needed"  # nothing to set up before the address
    page.get_by_role("navigation", name="Account").get_by_role("link", name="Profile").click()
    expect(page.locator("#v2-profile-totp-verify-first")).to_contain_text(
        f"Verify your email address first: open the link we sent to {email}")
    expect(page.get_by_role("button", name="Set up an authenticator app")).to_be_hidden()
    page.get_by_role("button", name="Send the link again").click()
    expect(page.locator("#v2-profile-totp-status")).to_have_text(f"We sent a new link to {email}.")
    wait_for_link(server, email, "verify-email")

    User.objects.filter(email=email).update(email_verified_at=timezone.now())
    page.goto("/")
    assert nudge_decision(page) == "shown"
    expect(page.get_by_role("complementary", name="Protect your account with two-factor")) \
        .to_be_visible()
    page.get_by_role("button", name="Not now").click()
    expect(page.locator("#v2-nudge-2fa")).to_have_count(0)
    page.reload()
    assert nudge_decision(page) == "not-needed"  # remembered in this browser

    page.get_by_role("navigation", name="Account").get_by_role("link", name="Profile").click()
    expect(page.locator("#v2-profile-totp-verify-first")).to_be_hidden()
    step_up(page, "v2-profile-totp")
    page.get_by_role("button", name="Set up an authenticator app").click()
    expect(page.locator("#v2-profile-totp-qr")).to_be_visible()
    device = ForgivingTOTPDevice.objects.get(user__email=email, confirmed=False)
    page.locator("#v2-profile-totp-confirm-code").fill(fresh_code(device))
    page.get_by_role("button", name="Confirm", exact=True).click()
    backup_codes(page)
    expect(page.locator("#v2-profile-totp-state")).to_contain_text(
        "Two-factor authentication is on")
    assert page.errors == [], page.errors


def test_a_display_name_is_set_on_the_profile_and_a_bad_one_changes_nothing(server, new_page):
    email = "named@example.org"
    seed(email)
    page = new_page(server)
    page.goto("/me/")
    log_in(page, email)
    expect(page.locator("#v2-profile-display-name-shown")).to_contain_text("(none")
    page.get_by_role("textbox", name="Display name").fill("  Pia   Example ")
    page.locator("#v2-profile-name-form").get_by_role("button", name="Save").click()
    expect(page.locator("#v2-profile-name-status")).to_have_text(
        "Contacts now see you as Pia Example.")
    expect(page.locator("#v2-profile-display-name-shown")).to_have_text("Pia Example")

    page.get_by_role("textbox", name="Display name").fill("Pia\u202eelpmaxE")
    page.locator("#v2-profile-name-form").get_by_role("button", name="Save").click()
    expect(page.locator("#v2-profile-name-error")).to_contain_text("control or invisible")
    expect(page.locator("#v2-profile-display-name-shown")).to_have_text("Pia Example")
    assert User.objects.get(email=email).display_name == "Pia Example"
    assert page.errors == [], page.errors
