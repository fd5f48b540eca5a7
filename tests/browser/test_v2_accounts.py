"""The version 2 browser shell at /v2/ (issue 12): signup, login, recovery code and the
identity kept under the device key, against one live server per module.

The pages run the test build of the bundles (tools/bundle.mjs --test: work-factor
floor 10, as tests/settings.py gives the server); the served build refuses 10. Accounts
cross between the browser and the ``securechat`` CLI both ways; a lying server is
played by rewriting its responses with ``page.route`` or its rows in the database.
"""

from __future__ import annotations

import base64
import json
import re
import time

import httpx
import pyotp
import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import KeyGeneration, User, WrappedIdentity
from client import account as client_account
from client.http import Session as ClientSession
from client.identity import IdentityFile, unwrap_with_recovery
from tests.accounts import enrol_totp, fresh_code
from tests.browser.flows import wait_for_link
from tests.client import cli_support

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("fresh_database")]

PASSWORD = "correct horse battery staple v2"
RECHECK_SECONDS = 2  # SECURECHAT_V2_RECHECK_SECONDS of this module's server
DEVICE_BLOB = "securechat/v2/device-blob"
KNOWN_ACCOUNTS = "securechat/v2/known-accounts"
SOME_RECIPIENT = "age1v577fzh7dcgvcppufumgnxl35ymelp8lg9wqrgdjfm86647v9eyq4uyjca"


@pytest.fixture(scope="module")
def server(shared_servers, test_bundle):
    """One uvicorn for the module, serving the test build of the bundles."""
    live = shared_servers.start("uvicorn", SECURECHAT_TEST_BUNDLE_DIR=str(test_bundle.dir),
                                SECURECHAT_V2_RECHECK_SECONDS=str(RECHECK_SECONDS))
    live.crypto_url = test_bundle.url("crypto/index")
    live.bundle_dir = test_bundle.dir
    return live


# --- helpers -------------------------------------------------------------------------


def open_shell(page):
    page.goto("/")
    expect(page.locator("#v2-app")).not_to_have_attribute("data-state", "loading")


def browser_signup(page, email):
    open_shell(page)
    page.locator("#v2-login").get_by_role("button", name="Sign up").click()
    form = page.locator("#v2-signup-form")
    form.get_by_label("Email address").fill(email)
    form.get_by_label("Password", exact=True).fill(PASSWORD)
    form.get_by_label("Password again").fill(PASSWORD)
    form.get_by_role("button", name="Sign up").click()
    expect(page.locator("#v2-recovery")).to_be_visible()


def browser_login(page, email, *, shared=False, code_for=None):
    open_shell(page)
    form = page.locator("#v2-login-form")
    form.get_by_label("Email address").fill(email)
    form.get_by_label("Password").fill(PASSWORD)
    if shared:
        form.get_by_label(re.compile("shared computer")).check()
    form.get_by_role("button", name="Log in").click()
    if code_for is not None:
        expect(page.locator("#v2-code")).to_be_visible()
        page.get_by_label(re.compile("authenticator")).fill(fresh_code(code_for))
        page.locator("#v2-code-form").get_by_role("button", name="Continue").click()


def expect_signed_in(page, email):
    expect(page.locator("#v2-home-email")).to_have_text(email)
    assert page.errors == [], page.errors


def storage(page) -> dict:
    return page.evaluate("() => Object.fromEntries(Object.entries(localStorage))")


def cookie_jar(page) -> dict:
    return {c["name"]: c["value"] for c in page.context.cookies()}


def cli(home, server, *args):
    return cli_support.run_cli(home, "--server", server.url, "--password-stdin", *args,
                               stdin=PASSWORD + "\n")


def cli_signup(tmp_path, server, email):
    result = cli(tmp_path / "cli-signup", server, "signup", "--email", email,
                 "--key-type", settings.SECURECHAT_KEY_TYPE)
    assert result.returncode == 0, result
    return User.objects.get(email=email)


# --- the identity file ---------------------------------------------------------------


ROUND_TRIP_JS = """async ([url, keyType, pythonText]) => {
  const c = await import(url);
  const recovery = await c.recoveryIdentity(c.generateRecoveryCode(), keyType);
  const made = c.createIdentityFile(keyType, recovery.recipient);
  const text = c.serializeIdentityFile(made);
  const copy = await c.wrapToRecovery(made);
  const parsed = c.parseIdentityFile(pythonText);
  const refusals = [];
  for (const bad of [pythonText.replaceAll("\\n", "\\r\\n"), pythonText.toLowerCase(),
                     pythonText.replace("# securechat-generation: 2\\n", "")]) {
    try { c.parseIdentityFile(bad); refusals.push(null); } catch (e) { refusals.push(e.code); }
  }
  const other = keyType === "hybrid" ? "x25519" : "hybrid";
  const otherText = c.serializeIdentityFile(c.createIdentityFile(other, recovery.recipient));
  return {
    text, otherText, code: recovery.normalised, copy: Array.from(copy),
    recipient: await c.currentRecipient(made),
    signing: c.toHex(c.identitySigningKey(made)),
    reserialized: c.serializeIdentityFile(parsed),
    generations: parsed.generations.map((g) => g.number),
    pythonRecipient: await c.currentRecipient(parsed),
    refusals,
  };
}"""


def test_identity_files_cross_between_the_browser_and_python_byte_for_byte(server, new_page):
    key_type = settings.SECURECHAT_KEY_TYPE
    python_file = IdentityFile.create(key_type, SOME_RECIPIENT).with_new_generation("x25519")
    python_text = python_file.serialize().decode()
    page = new_page(server)
    open_shell(page)
    result = page.evaluate(ROUND_TRIP_JS, [server.crypto_url, key_type, python_text])

    made = IdentityFile.parse(result["text"].encode())  # the browser's file, read by Python
    assert made.serialize().decode() == result["text"]
    assert made.recipient() == result["recipient"]
    assert made.signing_public_key().hex() == result["signing"]
    assert made.current_generation == 1
    other = IdentityFile.parse(result["otherText"].encode())  # the other key type too
    assert other.serialize().decode() == result["otherText"]
    assert type(other.current_identity) is not type(made.current_identity)
    opened = unwrap_with_recovery(bytes(result["copy"]), result["code"], key_type)
    assert opened.serialize() == made.serialize()

    assert result["reserialized"] == python_text  # Python's file, read by the browser
    assert result["generations"] == [2, 1]
    assert result["pythonRecipient"] == python_file.recipient()
    assert result["refusals"] == ["bad_identity_file"] * 3


# --- signup and login ----------------------------------------------------------------


def test_browser_signup_shows_the_recovery_code_and_the_cli_logs_in(server, new_page, tmp_path):
    page = new_page(server)
    browser_signup(page, "ada@example.org")
    # The Worker's scrypt progress reached the page's live region (hidden by now).
    progress = page.locator("#v2-progress-text")
    expect(progress).to_have_attribute("aria-live", "polite")
    expect(progress).to_have_text("Protecting your new keys: 100%.")
    groups = page.locator("#v2-recovery-code .recovery-group")
    expect(groups).to_have_count(6)
    assert groups.first.get_attribute("aria-label").startswith("group 1 of 6: ")
    code = "".join(groups.all_inner_texts())
    assert len(code) == 26
    with page.expect_download() as download:
        page.get_by_role("button", name="Download as .txt").click()
    assert code[:5] in download.value.path().read_text()
    page.get_by_role("button", name="Continue").click()  # not yet confirmed
    expect(page.locator("#v2-recovery-errors")).to_have_text(re.compile("Confirm"))
    page.get_by_label("I saved my recovery code").check()
    page.get_by_role("button", name="Continue").click()
    expect_signed_in(page, "ada@example.org")
    assert DEVICE_BLOB in storage(page)

    user = User.objects.get(email="ada@example.org")
    blob = bytes(WrappedIdentity.objects.get(user=user).password_blob)
    assert b"-> scrypt " in blob and PASSWORD.encode() not in blob
    generation = KeyGeneration.objects.get(user=user)
    page.get_by_text("Your keys", exact=True).click()  # the account card folds them away
    assert page.locator("#v2-home-recipient").inner_text() == generation.recipient

    login = cli(tmp_path / "laptop", server, "login", "--email", "ada@example.org")
    assert login.returncode == 0, login
    assert "key generation 1, checked" in login.stdout
    # The one refused request is the page's first look for a session (before the signup):
    # "I saved it" asks the server nothing (it never had the code; its confirm endpoint,
    # kept for other clients, answers 409 nothing_pending).
    assert page.bad_responses == [f"401 GET {server.url}/api/v1/me"], page.bad_responses


def test_cli_signup_then_browser_login_with_a_code_stays_unlocked_until_logout(
        server, new_page, tmp_path):
    user = cli_signup(tmp_path, server, "bea@example.org")
    User.objects.filter(pk=user.pk).update(email_verified_at=timezone.now())  # 2FA needs it
    device, _ = enrol_totp(User.objects.get(pk=user.pk))
    page = new_page(server)
    browser_login(page, "bea@example.org")
    expect(page.locator("#v2-code")).to_be_visible()
    page.reload()  # mid-login: the derived keys died with the page, so the login ends
    expect(page.locator("#v2-login")).to_be_visible()
    with page.expect_response("**/api/v1/me/device-key") as device_key:
        browser_login(page, "bea@example.org", code_for=device)
    expect_signed_in(page, "bea@example.org")
    assert "no-store" in device_key.value.headers["cache-control"]
    stored = json.loads(storage(page)[DEVICE_BLOB])
    assert stored["user_id"] == user.pk and "AGE-SECRET-KEY" not in json.dumps(stored)

    page.reload()  # no password asked: the device key opens the stored identity
    expect_signed_in(page, "bea@example.org")
    expect(page.locator("#v2-login")).to_be_hidden()
    second_tab = page.context.new_page()
    second_tab.errors = []
    second_tab.goto("/")
    expect_signed_in(second_tab, "bea@example.org")
    second_tab.close()

    old_jar = cookie_jar(page)
    page.get_by_role("button", name="Log out").click()
    expect(page.locator("#v2-login")).to_be_visible()
    assert DEVICE_BLOB not in storage(page)
    answer = httpx.get(server.url + "/api/v1/me/device-key", cookies=old_jar)
    assert answer.status_code == 401
    # Positive control: the same request with a live session's jar succeeds.
    browser_login(page, "bea@example.org", code_for=device)
    expect_signed_in(page, "bea@example.org")
    assert httpx.get(server.url + "/api/v1/me/device-key",
                     cookies=cookie_jar(page)).status_code == 200


def test_a_shared_computer_keeps_the_identity_in_the_tab_only(server, new_page, tmp_path):
    cli_signup(tmp_path, server, "cy@example.org")
    page = new_page(server)
    browser_login(page, "cy@example.org", shared=True)
    expect_signed_in(page, "cy@example.org")
    expect(page.locator("#v2-home-storage")).to_contain_text("this tab only")
    assert storage(page) == {}
    assert page.evaluate("() => sessionStorage.length") == 0
    assert page.evaluate("async () => (await indexedDB.databases()).length") == 0
    page.reload()
    expect(page.locator("#v2-login")).to_be_visible()  # nothing to reopen
    assert storage(page) == {}


def test_with_mandatory_two_factor_the_recovery_code_still_shows_after_signup(
        server, start_server, new_page):
    strict = start_server("uvicorn", SECURECHAT_TEST_BUNDLE_DIR=str(server.bundle_dir),
                          SECURECHAT_REQUIRE_2FA="1")
    page = new_page(strict)
    browser_signup(page, "hal@example.org")  # the session is half-logged-in from here
    expect(page.locator("#v2-recovery-code .recovery-group")).to_have_count(6)
    page.get_by_label("I saved my recovery code").check()
    page.get_by_role("button", name="Continue").click()
    # The half login's stages, in the shell: check the inbox, then enrol, then signed in.
    expect(page.locator("#v2-verify")).to_be_visible()
    assert DEVICE_BLOB not in storage(page)
    page.get_by_role("button", name="I opened the link: continue").click()
    expect(page.locator("#v2-verify-error")).to_contain_text("not confirmed yet")
    link = wait_for_link(strict, "hal@example.org", "/verify-email/")
    mailbox = page.context.new_page()
    mailbox.goto(link)
    mailbox.get_by_role("button", name="Confirm my email address").click()
    # The POST is done when its page shows: only then may the page go on.
    expect(mailbox.get_by_role("heading", name="Email address confirmed")).to_be_visible()
    mailbox.close()
    page.get_by_role("button", name="I opened the link: continue").click()
    secret = page.locator("#v2-enrol-secret").inner_text().replace(" ", "")
    expect(page.locator("#v2-enrol-qr")).to_be_visible()
    page.locator("#v2-enrol-confirm-code").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Confirm", exact=True).click()
    expect(page.locator("#v2-enrol-codes-list li")).to_have_count(10)
    page.get_by_role("button", name="I saved my backup codes").click()
    expect_signed_in(page, "hal@example.org")
    assert DEVICE_BLOB in storage(page)


# --- a lying server ------------------------------------------------------------------


def tamper_prelogin(page, **changes):
    def handle(route):
        answer = route.fetch()
        body = {**answer.json(), **changes}
        route.fulfill(response=answer, body=json.dumps(body))

    page.route("**/api/v1/auth/prelogin", handle)


def test_a_lying_prelogin_is_refused_before_the_password_is_used(server, new_page, tmp_path):
    cli_signup(tmp_path, server, "dee@example.org")
    page = new_page(server)
    logins = []
    page.on("request", lambda r: "/api/v1/auth/login" in r.url and logins.append(r.url))
    errors = page.locator("#v2-login-errors")
    for work_factor in (8, 21):
        tamper_prelogin(page, work_factor=work_factor)
        browser_login(page, "dee@example.org")
        expect(errors).to_contain_text(f"work factor {work_factor} is outside [10, 20]")
        page.unroute("**/api/v1/auth/prelogin")
    assert logins == [] and storage(page).get(DEVICE_BLOB) is None

    browser_login(page, "dee@example.org")  # the honest answer is remembered
    expect_signed_in(page, "dee@example.org")
    assert "dee@example.org" in storage(page)[KNOWN_ACCOUNTS]
    page.get_by_role("button", name="Log out").click()
    expect(page.locator("#v2-login")).to_be_visible()  # the logout is done before "/" reloads
    logins.clear()
    tamper_prelogin(page, account_salt="A" * 22)
    browser_login(page, "dee@example.org")
    expect(errors).to_contain_text("different salt")
    page.unroute("**/api/v1/auth/prelogin")
    tamper_prelogin(page, work_factor=settings.SECURECHAT_CLIENT_WORK_FACTOR)  # positive control
    browser_login(page, "dee@example.org")
    expect_signed_in(page, "dee@example.org")
    assert len(logins) == 1


def test_a_wrapped_identity_of_another_work_factor_is_refused_and_the_login_ended(
        server, new_page, tmp_path):
    cli_signup(tmp_path, server, "ivy@example.org")

    def raise_the_work_factor(route):
        answer = route.fetch()
        body = answer.json()
        blob = base64.b64decode(body["wrapped_identity"])
        header_end = blob.index(b"\n---")
        tampered = re.sub(rb"(-> scrypt \S+) 10\n", rb"\1 11\n", blob[:header_end + 1])
        assert tampered != blob[:header_end + 1]
        body["wrapped_identity"] = base64.b64encode(tampered + blob[header_end + 1:]).decode()
        route.fulfill(response=answer, body=json.dumps(body))

    page = new_page(server)
    page.route("**/api/v1/me/wrapped-identity", raise_the_work_factor)
    browser_login(page, "ivy@example.org")
    expect(page.locator("#v2-login-errors")).to_contain_text("work factor must be exactly 10")
    assert DEVICE_BLOB not in storage(page)
    assert httpx.get(server.url + "/api/v1/me/device-key",
                     cookies=cookie_jar(page)).status_code == 401  # the login was ended
    page.unroute("**/api/v1/me/wrapped-identity")  # positive control: the honest file opens
    browser_login(page, "ivy@example.org")
    expect_signed_in(page, "ivy@example.org")


def test_a_directory_generation_the_user_never_made_raises_the_alarm(server, new_page, tmp_path):
    user = cli_signup(tmp_path, server, "eve@example.org")
    first = KeyGeneration.objects.get(user=user)
    intruder = IdentityFile.create(settings.SECURECHAT_KEY_TYPE, SOME_RECIPIENT)
    KeyGeneration.objects.filter(pk=first.pk).update(retired_at=timezone.now())
    KeyGeneration.objects.create(user=user, number=2, key_type=first.key_type,
                                 recipient=intruder.recipient(),
                                 signing_public_key=intruder.signing_public_key())
    page = new_page(server)
    browser_login(page, "eve@example.org")
    alarm = page.locator("#v2-alarm")
    expect(alarm).to_contain_text("key generation 2, which you never made")
    expect(page.locator("#v2-login")).to_be_visible()
    assert DEVICE_BLOB not in storage(page)
    assert httpx.get(server.url + "/api/v1/me/device-key",
                     cookies=cookie_jar(page)).status_code == 401  # the session was ended


def test_a_session_revoked_elsewhere_wipes_the_open_tab(server, new_page, tmp_path):
    cli_signup(tmp_path, server, "fay@example.org")
    page = new_page(server)
    browser_login(page, "fay@example.org")
    expect_signed_in(page, "fay@example.org")
    assert DEVICE_BLOB in storage(page)
    with page.expect_request(lambda r: r.url.endswith("/api/v1/me")) as recheck:
        pass  # the next periodic re-check, which must not count as use of the session
    assert recheck.value.headers.get("x-securechat-background") == "1"

    other_device = tmp_path / "other-device"
    other_device.mkdir(mode=0o700)
    other = ClientSession(server.url, other_device)
    client_account.login(other, "fay@example.org", PASSWORD,
                         client_account.KnownAccounts(other_device),
                         lambda: pytest.fail("no code asked"), min_work_factor=10)
    revoked_at = time.monotonic()
    other.post("/api/v1/me/sessions/revoke-others")
    expect(page.locator("#v2-login")).to_be_visible(timeout=(RECHECK_SECONDS + 5) * 1000)
    assert time.monotonic() - revoked_at < RECHECK_SECONDS + 5
    assert DEVICE_BLOB not in storage(page)
    expect(page.locator("#v2-status")).to_contain_text("session ended")


def test_the_signup_form_shows_every_error_at_once_and_keeps_what_was_typed(
        server, new_page, tmp_path):
    cli_signup(tmp_path, server, "gil@example.org")
    # Verified: an unverified registration would not block the address (the signup
    # becomes a claim its emailed link decides, tests/accounts/test_squatting.py).
    User.objects.filter(email="gil@example.org").update(email_verified_at=timezone.now())
    page = new_page(server)
    signups = []
    page.on("request", lambda r: "/api/v1/auth/signup" in r.url and signups.append(r.url))
    open_shell(page)
    expect(page.get_by_role("link", name="Forgot password?")).to_have_attribute(
        "href", "/password-reset/")
    page.locator("#v2-login").get_by_role("button", name="Sign up").click()
    form = page.locator("#v2-signup-form")
    fields = {"Email address": "not an address", "Password": "short",
              "Password again": "different"}
    for label, value in fields.items():
        form.get_by_label(label, exact=True).fill(value)
    form.get_by_role("button", name="Sign up").click()
    errors = page.locator("#v2-signup-errors p")
    expect(errors).to_have_text(["Enter a valid email address.", "Use at least 12 characters.",
                                 "The two passwords differ."])
    for label, value in fields.items():
        expect(form.get_by_label(label, exact=True)).to_have_value(value)
        expect(form.get_by_label(label, exact=True)).to_have_attribute("aria-invalid", "true")
    expect(form.get_by_label("Email address")).to_be_focused()

    common = "administrator"  # on the server's list (Django's), long enough for the length rule
    form.get_by_label("Email address").fill("gil@example.org")
    form.get_by_label("Password", exact=True).fill(common)
    form.get_by_label("Password again").fill(common)
    form.get_by_role("button", name="Sign up").click()
    expect(errors).to_have_text(["This password is too common."])
    assert signups == []

    form.get_by_label("Password", exact=True).fill(PASSWORD)  # the address is taken
    form.get_by_label("Password again").fill(PASSWORD)
    form.get_by_role("button", name="Sign up").click()
    expect(page.locator("#v2-signup-email-error")).to_contain_text("already exists")
    expect(form.get_by_label("Email address")).to_have_value("gil@example.org")
    assert len(signups) == 1 and page.errors == []


def test_after_signup_the_shell_mounts_the_chat_and_a_cli_user_reads_what_it_sends(
        server, new_page, tmp_path):
    """The /v2/ shell hands the unlocked keys to the chat (static/js/v2/mount.js): a new
    browser account starts a conversation with a CLI account and the CLI opens, verifies
    and prints the message; the CLI's answer shows in the page; a file message is sent
    (the shell passes the encrypt worker's bundle)."""
    bob = cli_signup(tmp_path, server, "bob.shell@example.org")
    User.objects.filter(pk=bob.pk).update(email_verified_at=timezone.now())
    page = new_page(server)
    browser_signup(page, "ada.shell@example.org")
    page.get_by_label("I saved my recovery code").check()
    page.get_by_role("button", name="Continue").click()
    expect_signed_in(page, "ada.shell@example.org")
    User.objects.filter(email="ada.shell@example.org").update(  # she followed the link
        email_verified_at=timezone.now())
    expect(page.locator(".v2-status")).to_have_text("Connected")
    page.get_by_label("Email address(es), separated by commas").fill("bob.shell@example.org")
    page.get_by_role("button", name="Start conversation").click()
    expect(page.locator(".v2-conversation")).to_be_visible()
    box = page.get_by_label("Message", exact=True)
    box.fill("hello from the shell")
    box.press("Enter")
    expect(page.locator(".v2-timeline .v2-message .text")).to_have_text(
        ["hello from the shell"])
    home = tmp_path / "cli-signup"
    read = cli(home, server, "read", "ada.shell@example.org")
    assert read.returncode == 0, read
    assert "hello from the shell" in read.stdout
    sent = cli(home, server, "send", "ada.shell@example.org", "hello back from the CLI")
    assert sent.returncode == 0, sent
    expect(page.locator(".v2-timeline .v2-message .text")).to_have_text(
        ["hello from the shell", "hello back from the CLI"])
    # The shell names the encrypt worker (URL and SRI) for file messages.
    page.get_by_label("Attach a file (or drop files on the conversation)").set_input_files(
        files=[{"name": "from-the-shell.txt", "mimeType": "text/plain", "buffer": b"a file"}])
    expect(page.locator(".v2-message.mine.sent .file-name")).to_have_text(["from-the-shell.txt"])
    # The shell names the download Service Worker: the file is saved through /dl/.
    with page.expect_download() as download:
        page.get_by_role("button", name="Download from-the-shell.txt").click()
    assert open(download.value.path(), "rb").read() == b"a file"
    assert "/dl/" in download.value.url
    assert page.errors == [], page.errors


def test_an_invitation_link_signs_up_the_invited_administrator(server, new_page):
    """`manage.py createadmin` prints /signup/?invitation=…&email=…: the shell fills in the
    address and sends the token with the client-made keys, so the address counts as
    verified by the invitation alone and the account becomes an administrator once its
    second factor is confirmed (``admin_on_2fa``)."""
    from accounts.actions import do_invite, invitation_link

    email = "operator@example.org"
    token = do_invite(email, staff=True)
    link = invitation_link(email, token)
    page = new_page(server)
    page.goto(link[link.index("/signup/"):])
    form = page.locator("#v2-signup-form")
    expect(form.get_by_label("Email address")).to_have_value(email)
    form.get_by_label("Password", exact=True).fill(PASSWORD)
    form.get_by_label("Password again").fill(PASSWORD)
    form.get_by_role("button", name="Sign up").click()
    expect(page.locator("#v2-recovery")).to_be_visible()
    page.get_by_label("I saved my recovery code").check()
    page.get_by_role("button", name="Continue").click()
    expect_signed_in(page, email)
    user = User.objects.get(email=email)
    assert user.admin_on_2fa and user.email_verified_at is not None

    # Without the link's token the same kind of signup makes an ordinary account.
    page = new_page(server)
    browser_signup(page, "plain@example.org")
    assert not User.objects.get(email="plain@example.org").admin_on_2fa
