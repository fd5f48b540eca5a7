"""The key pages of the version 2 shell (static/js/v2/keys/) in Chromium, against one live
server for the module: password change (with the "also rotate" box) then a login with the
new password, rotation, the export opened by `age -d`, the reset with the recovery code
(history kept, new code shown) and without it (held, cancelled from a signed-in tab and
by the emailed cancel link), the work-factor upgrade at login, and accounts crossing
between the browser and the ``securechat`` CLI's reset both ways.

The server runs the test build of the bundles (work-factor floor 10) with its client
work factor raised to 11 (SECURECHAT_TEST_CLIENT_WORK_FACTOR): an account seeded in this
process (at 10, tests/settings.py) is upgraded by its first browser login. Its key type
is x25519 (here and in this process): the export is checked with Debian's `age` 1.1,
which reads x25519 identity files only (hybrid ones need age >= 1.3; protocol.md §7).
"""

from __future__ import annotations

import email as email_parser
import io
import re
import subprocess
import time

import pytest
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import AuditEvent, ClientAuth, HeldReset, KeyGeneration, User
from client.identity import IdentityFile
from tests.accounts import enrol_totp, fresh_code
from tests.agecrypt.test_interop_cli import _run_age_tty
from tests.client import cli_support
from tests.support.v2chat import V2User

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("fresh_database")]

PASSWORD = "correct horse battery staple v2"  # tests/support/v2chat.py's
NEW_PASSWORD = "an entirely new passphrase 42"
HELD_PASSWORD = "the held reset's passphrase 77"
SERVER_WORK_FACTOR = 11
KEY_TYPE = "x25519"
RESET_LINK = re.compile(r"https?://[^/\s]+(/password-reset/[^/\s]+/[^/\s]+/)")
CANCEL_LINK = re.compile(r"https?://[^/\s]+(/password-reset/cancel/[A-Za-z0-9_-]+)")


@pytest.fixture(scope="module")
def server(shared_servers, test_bundle):
    return shared_servers.start(
        "uvicorn", SECURECHAT_TEST_BUNDLE_DIR=str(test_bundle.dir),
        SECURECHAT_V2_RECHECK_SECONDS="2", SECURECHAT_KEY_TYPE=KEY_TYPE,
        # one test walks four reset links from one address
        SECURECHAT_RATE_RESET_ADDRESS="100/3600",
        SECURECHAT_TEST_CLIENT_WORK_FACTOR=str(SERVER_WORK_FACTOR))


@pytest.fixture(autouse=True)
def seeded_key_type(settings):
    settings.SECURECHAT_KEY_TYPE = KEY_TYPE  # what this process seeds, as the server


# --- helpers -------------------------------------------------------------------------


def seeded(name: str) -> V2User:
    """A version 2 account made in this process (work factor 10), address verified."""
    user = V2User.signup(name)
    User.objects.filter(pk=user.id).update(email_verified_at=timezone.now())
    return user


def open_shell(page, path="/"):
    page.goto(path)
    expect(page.locator("#v2-app")).not_to_have_attribute("data-state", "loading")


def login(page, address, password=PASSWORD, code_for=None):
    open_shell(page)
    form = page.locator("#v2-login-form")
    form.get_by_label("Email address").fill(address)
    form.get_by_label("Password").fill(password)
    form.get_by_role("button", name="Log in").click()
    if code_for is not None:
        page.get_by_label(re.compile("authenticator")).fill(fresh_code(code_for))
        page.locator("#v2-code-form").get_by_role("button", name="Continue").click()


def expect_signed_in(page, address, generation):
    expect(page.locator("#v2-home-email")).to_have_text(address)
    expect(page.locator("#v2-home-generation")).to_have_text(str(generation))


def browser_signup(page, address) -> str:
    """Sign up in the shell; the recovery code it showed (confirmed as saved)."""
    open_shell(page)
    page.locator("#v2-login").get_by_role("button", name="Sign up").click()
    form = page.locator("#v2-signup-form")
    form.get_by_label("Email address").fill(address)
    form.get_by_label("Password", exact=True).fill(PASSWORD)
    form.get_by_label("Password again").fill(PASSWORD)
    form.get_by_role("button", name="Sign up").click()
    return confirm_recovery_code(page)


def confirm_recovery_code(page) -> str:
    groups = page.locator("#v2-recovery-code .recovery-group")
    expect(groups).to_have_count(6)
    code = "-".join(groups.all_inner_texts())
    page.get_by_label("I saved my recovery code").check()
    page.locator("#v2-recovery-form").get_by_role("button", name="Continue").click()
    return code


def mailed(server, to: str) -> list[str]:
    bodies = []
    for path in sorted(server.mail_dir.glob("*"), key=lambda p: p.stat().st_mtime):
        for raw in path.read_text(errors="replace").split("\n" + "-" * 79 + "\n"):
            if raw.strip():
                message = email_parser.message_from_string(raw.lstrip("\n"))
                if to.lower() in message.get("To", "").lower():
                    bodies.append((message.get_payload(decode=True) or b"").decode())
    return bodies


def wait_for_path(server, to: str, pattern: re.Pattern, after: int = 0) -> str:
    """The path of the newest link matching ``pattern`` in the mails to ``to`` sent after
    the first ``after`` of them."""
    deadline = time.monotonic() + 30  # reset links are sent after the response
    while time.monotonic() < deadline:
        for body in reversed(mailed(server, to)[after:]):
            if found := pattern.findall(body):
                return found[-1]
        time.sleep(0.1)
    raise AssertionError(f"no mail to {to} matching {pattern.pattern}")


def ask_reset(page, server, address) -> str:
    """The reset request page (from the login view's link), then the mailed link's path."""
    before = len(mailed(server, address))
    open_shell(page)
    page.get_by_role("link", name="Forgot password?").click()
    form = page.locator("#v2-reset-request-form")
    form.get_by_label("Email address").fill(address)
    form.get_by_role("button", name="Send the reset link").click()
    expect(page.locator("#v2-reset-request-done")).to_contain_text("reset link")
    return wait_for_path(server, address, RESET_LINK, before)


def fill_reset(page, path, *, recovery_code=None, password=NEW_PASSWORD):
    page.goto(path)
    form = page.locator("#v2-reset-form")
    expect(form).to_be_visible()
    token = path.rstrip("/").rsplit("/", 1)[1]
    assert page.url.endswith("/set-password/") and token not in page.url  # left the address bar
    if recovery_code is None:
        form.get_by_label(re.compile("I don't have it")).check()
        expect(page.locator("#v2-reset-warning")).to_contain_text("can no longer be read")
    else:
        form.get_by_label("Recovery code", exact=True).fill(recovery_code)
    form.get_by_label("New password", exact=True).fill(password)
    form.get_by_label("New password again").fill(password)
    form.get_by_role("button", name="Reset password").click()


def cli(home, server, *args, stdin):
    return cli_support.run_cli(home, "--server", server.url, "--password-stdin", *args,
                               stdin=stdin)


def generations(address) -> list[int]:
    return list(KeyGeneration.objects.filter(user__email=address).order_by("number")
                .values_list("number", flat=True))


def device_blob(page) -> str | None:
    return page.evaluate("() => localStorage.getItem('securechat/v2/device-blob')")


# --- signed in: password, rotation, export, work factor -----------------------------


def test_login_upgrades_the_work_factor_then_password_change_with_rotation_and_rotate(
        server, new_page):
    alice = seeded("alice")
    assert ClientAuth.objects.get(user_id=alice.id).work_factor == 10
    page = new_page(server)
    login(page, alice.email)
    expect_signed_in(page, alice.email, 1)
    assert ClientAuth.objects.get(user_id=alice.id).work_factor == SERVER_WORK_FACTOR
    other = new_page(server)  # a second session, ended by the change
    login(other, alice.email)
    expect_signed_in(other, alice.email, 1)

    blob_before = device_blob(page)
    form = page.locator("#v2-keys-password")
    form.get_by_label("Current password").fill(PASSWORD)
    form.get_by_label("New password", exact=True).fill("short")
    form.get_by_label("New password again").fill("short")
    form.get_by_role("button", name="Change password").click()
    expect(page.locator("#v2-keys-password-errors")).to_contain_text("at least 12")
    form.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    form.get_by_label("New password again").fill(NEW_PASSWORD)
    form.get_by_label("Also rotate my keys").check()
    form.get_by_role("button", name="Change password").click()
    expect(page.locator("#v2-status")).to_contain_text("keys rotated (key generation 2)")
    expect_signed_in(page, alice.email, 2)  # the signed-in view runs on the new keys
    assert generations(alice.email) == [1, 2]
    assert device_blob(page) not in (None, blob_before)
    expect(other.locator("#v2-login")).to_be_visible(timeout=15_000)  # its session ended

    page.reload()  # the re-stored device blob opens without the password
    expect_signed_in(page, alice.email, 2)
    fresh = new_page(server)
    login(fresh, alice.email, PASSWORD)
    expect(fresh.locator("#v2-login-errors")).to_contain_text("Wrong email address or password")
    login(fresh, alice.email, NEW_PASSWORD)
    expect_signed_in(fresh, alice.email, 2)

    rotate = page.locator("#v2-keys-rotate")
    rotate.get_by_label("Current password").fill(PASSWORD)  # the old one: refused
    rotate.get_by_role("button", name="Rotate keys").click()
    expect(page.locator("#v2-keys-rotate-errors")).to_contain_text("not your current password")
    rotate.get_by_label("Current password").fill(NEW_PASSWORD)
    rotate.get_by_role("button", name="Rotate keys").click()
    expect(page.locator("#v2-status")).to_contain_text("key generation 3")
    expect_signed_in(page, alice.email, 3)
    assert generations(alice.email) == [1, 2, 3]
    # The CLI checks the browser's endorsements (both ways) at its login.
    result = cli(server.workdir / "cli-alice", server, "login", "--email", alice.email,
                 stdin=NEW_PASSWORD + "\n")
    assert result.returncode == 0 and "key generation 3, checked" in result.stdout, result
    assert page.errors == [], page.errors


def test_export_is_an_age_file_that_age_opens_with_the_password(server, new_page, tmp_path):
    bob = seeded("bob")
    totp, _ = enrol_totp(User.objects.get(pk=bob.id))
    page = new_page(server)
    login(page, bob.email, code_for=totp)
    expect_signed_in(page, bob.email, 1)
    form = page.locator("#v2-keys-export")
    form.get_by_label("Current password").fill(PASSWORD)
    with page.expect_download(timeout=60_000) as info:
        form.get_by_role("button", name="Export keys").click()
        page.get_by_label(re.compile("authenticator")).last.fill(fresh_code(totp))
        page.locator("#v2-keys-code").get_by_role("button", name="Continue").click()
    download = info.value
    assert download.suggested_filename == f"securechat-identity-{bob.email}.age"
    exported = tmp_path / "export.age"
    download.save_as(exported)
    header = exported.read_bytes().split(b"\n---", 1)[0].decode()
    assert re.search(r"^-> scrypt \S+ 18$", header, re.M), header

    opened = tmp_path / "identity.txt"
    rc, transcript = _run_age_tty(["age", "-d", "-o", str(opened), str(exported)], PASSWORD, 1)
    assert rc == 0, transcript
    identity = IdentityFile.parse(opened.read_bytes())
    assert identity.recipient() == bob.identity.recipient()
    assert identity.signing_public_key() == bob.identity.signing_public_key()
    message = tmp_path / "message.age"
    subprocess.run(["age", "-e", "-r", identity.recipient(), "-o", str(message)],
                   input=b"for bob", check=True)
    decrypted = subprocess.run(["age", "-d", "-i", str(opened), str(message)],
                               capture_output=True, check=True)
    assert decrypted.stdout == b"for bob"
    assert AuditEvent.objects.filter(user_id=bob.id, kind="identity_exported").count() == 1
    deadline = time.monotonic() + 10  # security mails go after the commit
    while not any("A copy of your keys" in body for body in mailed(server, bob.email)):
        assert time.monotonic() < deadline, mailed(server, bob.email)
        time.sleep(0.1)
    assert page.errors == [], page.errors


# --- forgotten password ----------------------------------------------------------------


def test_reset_with_the_recovery_code_in_the_browser_for_a_cli_account(server, new_page,
                                                                       tmp_path):
    """A CLI-made account (with a second factor) resets in the browser; its keys and
    history stay (the CLI logs in on generation 1) and a new recovery code is shown."""
    address = "carol@example.org"
    made = cli(tmp_path / "cli", server, "signup", "--email", address, "--key-type", KEY_TYPE,
               stdin=PASSWORD + "\n")
    assert made.returncode == 0, made
    old_code = made.stdout.splitlines()[1].strip()
    User.objects.filter(email=address).update(email_verified_at=timezone.now())
    totp, _ = enrol_totp(User.objects.get(email=address))

    page = new_page(server)
    path = ask_reset(page, server, address)
    fill_reset(page, path, recovery_code="AAAAA-AAAAA-AAAAA-AAAAA-AAAAA-A")
    expect(page.locator("#v2-reset-errors")).to_contain_text("does not open")
    page.reload()  # the tab kept its link (sessionStorage), not the address bar
    expect(page.locator("#v2-reset-intro")).to_have_text(f"Choose a new password for {address}.")
    fill_reset(page, path, recovery_code=old_code)
    page.get_by_label(re.compile("authenticator")).last.fill(fresh_code(totp))
    page.locator("#v2-reset-otp").get_by_role("button", name="Continue").click()
    new_code = confirm_recovery_code(page)
    assert new_code.replace("-", "") != old_code.replace("-", "")
    expect(page.locator("#v2-status")).to_contain_text("history are kept")
    assert generations(address) == [1]

    login_cli = cli(tmp_path / "cli2", server, "login", "--email", address,
                    stdin=f"{NEW_PASSWORD}\n{fresh_code(totp)}\n")
    assert login_cli.returncode == 0 and "key generation 1, checked" in login_cli.stdout
    # The link is spent; and the NEW code is the one that opens the recovery copy now.
    page.goto(path)
    expect(page.locator("#v2-reset-intro")).to_contain_text("not valid")
    time.sleep(1.1)  # a link asked for in the same second is the same (spent) token
    link = request_link_like_the_cli(server, tmp_path, address)
    again = cli(tmp_path / "cli3", server, "reset", "--email", address,
                stdin=f"{server.url}{link}\n{new_code}\n{PASSWORD}\n{fresh_code(totp)}\n")
    assert again.returncode == 0 and "keys and history are kept" in again.stdout, again
    assert page.errors == [], page.errors


def test_a_browser_account_resets_with_the_cli_and_a_held_reset_is_cancelled(
        server, new_page, tmp_path):
    """A browser-made account resets with `securechat reset` and its shown recovery code;
    then a reset without the code (held) is cancelled from a signed-in tab (a signed
    cancel), and another one by the emailed cancel link's page."""
    address = "dave@example.org"
    page = new_page(server)
    code = browser_signup(page, address)
    User.objects.filter(email=address).update(email_verified_at=timezone.now())

    first = request_link_like_the_cli(server, tmp_path, address)
    result = cli(tmp_path / "cli", server, "reset", "--email", address,
                 stdin=f"{server.url}{first}\n{code}\n{NEW_PASSWORD}\n")
    assert result.returncode == 0 and "keys and history are kept" in result.stdout, result

    tab = new_page(server)
    login(tab, address, NEW_PASSWORD)
    expect_signed_in(tab, address, 1)
    time.sleep(1.1)
    second = ask_reset(page, server, address)
    fill_reset(page, second, recovery_code=None, password=PASSWORD)
    confirm_recovery_code(page)
    expect(page.locator("#v2-status")).to_contain_text("takes effect at")
    hold = HeldReset.objects.get(user__email=address, state=HeldReset.HELD)

    banner = tab.locator("#v2-keys-held")
    expect(banner).to_contain_text("WITHOUT your recovery code", timeout=15_000)
    banner.get_by_role("button", name="Cancel the reset").click()
    expect(banner).to_be_hidden()
    hold.refresh_from_db()
    assert hold.state == HeldReset.CANCELLED
    assert AuditEvent.objects.filter(user__email=address, kind="reset_cancelled").exists()

    time.sleep(1.1)
    mails_before_third = len(mailed(server, address))
    third = ask_reset(page, server, address)
    fill_reset(page, third, recovery_code=None, password=PASSWORD)
    confirm_recovery_code(page)
    cancel_path = wait_for_path(server, address, CANCEL_LINK, mails_before_third)
    page.goto(cancel_path)
    page.get_by_role("button", name="Cancel the reset").click()
    expect(page.locator("#v2-reset-cancel-done")).to_contain_text("cancelled")
    assert HeldReset.objects.get(user__email=address, state=HeldReset.CANCELLED,
                                 pk__gt=hold.pk)
    assert generations(address) == [1]

    # A held reset that is not cancelled takes effect: the browser logs in on the new,
    # unendorsed generation (the older one's history is not this file's to check).
    time.sleep(1.1)
    fourth = ask_reset(page, server, address)
    fill_reset(page, fourth, recovery_code=None, password=HELD_PASSWORD)
    confirm_recovery_code(page)
    HeldReset.objects.filter(state=HeldReset.HELD).update(publish_at=timezone.now())
    call_command("publish_held_resets", stdout=io.StringIO())
    assert generations(address) == [1, 2]
    fresh = new_page(server)
    login(fresh, address, HELD_PASSWORD)
    expect_signed_in(fresh, address, 2)
    assert page.errors == [] and tab.errors == [] and fresh.errors == [], (
        page.errors, tab.errors, fresh.errors)


def request_link_like_the_cli(server, tmp_path, address) -> str:
    """`securechat reset` posts the request itself and reads the link from its input; here
    the request goes out first and the mailed link's path is what the user pastes."""
    from client.http import Session

    before = len(mailed(server, address))
    (tmp_path / "mailer").mkdir(mode=0o700, exist_ok=True)
    with Session(server.url, tmp_path / "mailer") as session:
        session.post("/api/v1/auth/password-reset", {"email": address})
    return wait_for_path(server, address, RESET_LINK, before)
