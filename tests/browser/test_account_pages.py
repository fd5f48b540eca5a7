"""The account pages answer in place, without a page load, when JavaScript runs
(static/js/accounts/forms.js), and keep working as plain forms when it does not."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser import flows

pytestmark = [pytest.mark.browser]


def test_the_no_reload_marker_detects_a_page_load(start_server, new_page):
    """Positive control for ``flows.assert_same_page``: a real page load wipes the marker."""
    server = start_server("uvicorn")
    page = new_page(server)
    page.goto("/login/")
    marker = flows.mark_page(page)
    flows.assert_same_page(page, marker)
    page.reload()
    with pytest.raises(AssertionError, match="reloaded"):
        flows.assert_same_page(page, marker)


def test_form_errors_show_in_place_announced_and_focused(start_server, new_page):
    """A rejected signup and a wrong password are reported on the same document: the
    invalid field (or the form's error) gets focus and the error is announced in the
    live region; the corrected form then goes on, still without a page load."""
    from tests.support.accounts import make_user

    server = start_server("uvicorn")
    page = new_page(server)
    page.goto("/signup/")
    marker = flows.mark_page(page)
    page.get_by_label("Email").fill("short@example.com")
    page.get_by_label(re.compile(r"^Password")).fill("short")
    page.get_by_role("button", name="Sign up").click()
    password = page.get_by_label(re.compile(r"^Password"))
    expect(password).to_have_attribute("aria-invalid", "true")
    expect(password).to_be_focused()
    expect(page.locator("#page-announcer")).not_to_be_empty()
    flows.assert_same_page(page, marker)

    user = make_user("known@example.com", password=flows.PASSWORD)
    page.goto("/login/")
    marker = flows.mark_page(page)
    page.get_by_label("Email").fill(user.email)
    page.get_by_label(re.compile(r"^Password")).fill("not the right passphrase at all")
    page.get_by_role("button", name="Log in").click()
    errors = page.locator("main .errorlist")
    expect(errors).to_be_visible()
    expect(errors).to_be_focused()
    error_text = errors.inner_text().strip()
    assert error_text
    expect(page.locator("#page-announcer")).to_have_text(error_text)
    flows.assert_same_page(page, marker)
    assert page.url.endswith("/login/")

    page.get_by_label(re.compile(r"^Password")).fill(flows.PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/login" not in url)
    expect(page.locator("#chat-app")).to_be_visible()
    assert page.errors == []


def test_the_welcome_message_survives_the_navigation_into_the_chat(start_server, new_page):
    """The redirect after the recovery code carries a one-time "Welcome" message; the
    in-place submit follows that redirect with fetch, so the message must still show on the
    chat page the browser then loads (with and without JavaScript)."""
    server = start_server("uvicorn")
    for javascript in (True, False):
        page = new_page(server, java_script_enabled=javascript)
        flows.signup(page, f"welcome-{javascript}@example.com".lower(), reload_free=javascript)
        expect(page.locator("#chat-app")).to_be_attached()
        expect(page.locator("main .flash")).to_contain_text("Welcome")
        if javascript:
            assert page.errors == []


def test_back_button_shows_the_previous_step_in_place(start_server, new_page):
    """Each step has its own address (history.pushState); Back shows the previous page
    again without a page load."""
    server = start_server("uvicorn")
    page = new_page(server)
    page.goto("/signup/")
    marker = flows.mark_page(page)
    page.get_by_label("Email").fill("back@example.com")
    page.get_by_label(re.compile(r"^Password")).fill(flows.PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url("**/signup/recovery-code/")
    page.go_back()
    page.wait_for_url("**/signup/")
    expect(page.get_by_role("heading", name="Create an account")).to_be_visible()
    flows.assert_same_page(page, marker)
    assert page.errors == []


def test_without_javascript_the_account_forms_work_as_plain_pages(start_server, new_page):
    """JavaScript off: signup, recovery code, email link, authenticator with backup codes,
    logout and login with a code all still work through ordinary form posts."""
    server = start_server("uvicorn")
    page = new_page(server, java_script_enabled=False)
    email = "nojs@example.com"
    flows.signup(page, email, reload_free=False)
    flows.verify_email(page, server, email)
    secret, _codes, used = flows.enable_totp(page, reload_free=False)
    flows.logout(page)
    flows.login(page, email, totp_secret=secret, last_code=used, reload_free=False)


def test_profile_forms_and_logout_answer_in_place(start_server, new_page):
    """On the profile pages a rejected password change, the accepted one (landing on the
    profile with its confirmation) and logging out from the header all happen without a
    page load; the header navigation follows the login state."""
    from tests.support.accounts import make_user

    server = start_server("uvicorn")
    user = make_user("profile@example.com", password=flows.PASSWORD)
    page = new_page(server)
    flows.login(page, user.email)
    page.goto("/me/password/")
    marker = flows.mark_page(page)
    new_password = "another long browser passphrase 43"
    page.get_by_label("Current password").fill("this is not my current passphrase")
    page.get_by_label("New password", exact=True).fill(new_password)
    page.get_by_label("New password again").fill(new_password)
    page.get_by_role("button", name=re.compile("password", re.I)).click()
    expect(page.locator("main .errorlist")).to_be_visible()
    flows.assert_same_page(page, marker)

    page.get_by_label("Current password").fill(flows.PASSWORD)
    page.get_by_label("New password", exact=True).fill(new_password)
    page.get_by_label("New password again").fill(new_password)
    page.get_by_role("button", name=re.compile("password", re.I)).click()
    page.wait_for_url("**/me/")
    expect(page.locator("main .flash")).to_contain_text("Your password is changed")
    flows.assert_same_page(page, marker)

    page.get_by_role("navigation", name="Account").get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login/")
    expect(page.locator("main .flash")).to_contain_text("You are logged out")
    expect(page.get_by_role("navigation", name="Account").get_by_role(
        "link", name="Sign up")).to_be_visible()
    flows.assert_same_page(page, marker)
    assert page.errors == []
