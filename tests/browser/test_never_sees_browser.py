"""The server never sees X, for the browser (DESIGN.md §9; tests/securechat/test_never_sees.py
for the CLI flows and the probes' positive controls).

The same recording server (tests/support/recorder.py around the whole application, its
own Redis under ``MONITOR``, DEBUG logs, open files sampled), serving the test build of
the bundles. In Chromium, Ada signs up in the shell (the recovery code read from the
page), stays unlocked across a reload (the identity kept under the device key), starts
a conversation with a CLI user, sends a text and a file; the CLI reads both. The
secrets are collected the way §9 says: her password typed by the test, ``master``,
``auth_key``, ``wrap_key`` and its passphrase derived with ``client.derivation`` from the
prelogin answer, her identity (opened with the client library), the recovery code and
its identity, the identity blob encrypted under the device key (read back from the
page's storage — the one browser-only secret), the text, the file's name, its one-time
identity (printed by the recipient's CLI) and a slice of its plaintext. None is found
anywhere the server reaches, except ``auth_key`` in the bodies that carry it by design.

Then (marked slow) the account flows of the key pages and the profile: Eve signs up,
enrols an authenticator in her profile, logs out and in with a TOTP code, changes her
password with "also rotate my keys", rotates again, exports her keys (the file made in
the page and downloaded), resets her password from the emailed link with her recovery
code (a new code shown), logs in, asks for a reset without the code (held) and cancels
it from her signed-in tab. Collected: her four passwords with the keys derived from each,
the identity opened from the stored wrapped copy at each generation (so every
generation's signing key too) and the held reset's new identity, her three recovery
codes (each checked to open its recovery copy), each device blob and a slice of the
exported file. ``auth_key`` may appear only in the request bodies of the signup, login
and step-ups that carry it (docs/api.md). Both tests check that no response sets a
``securechat_key`` cookie and no session row holds a sealed identity; the module shares
one recording server, so each test searches everything recorded so far.
"""

from __future__ import annotations

import base64
import json
import os
import re
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone
from playwright.sync_api import expect

import agecrypt
from accounts.models import ForgivingTOTPDevice, HeldReset, User, WrappedIdentity
from client import account
from client.http import Session as ClientSession
from client.identity import IdentityFile, unwrap_with_passphrase, unwrap_with_recovery
from tests.accounts import current_t, fresh_code
from tests.browser import test_v2_key_pages as key_pages
from tests.browser.test_v2_accounts import (
    DEVICE_BLOB,
    PASSWORD,
    browser_signup,
    expect_signed_in,
    storage,
)
from tests.client import cli_support
from tests.securechat.test_never_sees import (
    AUTH_KEY_PLACES,
    Recording,
    identity_secrets,
    key_cookies,
    key_secrets,
    recovery_secrets,
    sealed_identity_sessions,
    tag,
)
from tests.support.bundle import build
from tests.support.live import LiveServer, RedisServer
from tests.support.probes import OpenFileSampler, Probe, RedisMonitor, without

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CLI_PASSWORD = "the recipient's own password 77"


@pytest.fixture(scope="module")
def recording(django_db_setup, django_db_blocker, redis_url, tmp_path_factory):
    """tests/securechat/test_never_sees.py's recording server, with the test bundles, for the
    whole module: each test searches everything it recorded so far for its own secrets."""
    bundles = tmp_path_factory.mktemp("never-sees-bundle")
    build(bundles, test_variant=True)
    with RedisServer() as redis_server, django_db_blocker.unblock():
        monitor = RedisMonitor(redis_server.url)
        server = LiveServer("uvicorn", tmp_path_factory.mktemp("never-sees-server"), record=True,
                            extra_env={"LOG_LEVEL": "DEBUG", "REDIS_URL": redis_server.url,
                                       "SECURECHAT_TEST_BUNDLE_DIR": str(bundles),
                                       # the held-reset banner shows within seconds
                                       "SECURECHAT_V2_RECHECK_SECONDS": "2"},
                            extra_args=["--log-level", "debug"])
        try:
            server.start()
            sampler = OpenFileSampler(server.pid, skip=[
                str(connection.settings_dict["NAME"]), server.log_path, server.media_root,
                server.record_path])
            yield Recording(server, redis_server, monitor, sampler)
        finally:
            server.stop()
            monitor.stop()


def cli(home, server, *args, stdin=CLI_PASSWORD + "\n"):
    result = cli_support.run_cli(home, "--server", server.url, "--password-stdin", *args,
                                 stdin=stdin)
    assert result.returncode == 0, result
    return result.stdout


def test_the_browser_flows_leave_no_secret_anywhere_the_server_reaches(
        recording, new_page, tmp_path):
    server, secrets = recording.server, {}
    bob_email, bob_home = f"bob-{tag()}@example.org", tmp_path / "bob"
    cli(bob_home, server, "signup", "--email", bob_email, "--key-type",
        settings.SECURECHAT_KEY_TYPE)
    ada = f"ada-{tag()}@example.org"
    User.objects.filter(email=bob_email).update(email_verified_at=timezone.now())

    page = new_page(server)
    browser_signup(page, ada)
    code = "".join(page.locator("#v2-recovery-code .recovery-group").all_inner_texts())
    page.get_by_label("I saved my recovery code").check()
    page.get_by_role("button", name="Continue").click()
    expect_signed_in(page, ada)
    User.objects.filter(email=ada).update(email_verified_at=timezone.now())
    page.reload()  # unlocked again by the device key, no password asked
    expect_signed_in(page, ada)
    device_blob = json.loads(storage(page)[DEVICE_BLOB])

    secrets["text"] = f"meet me by the old mill at {tag()}"
    secrets["file name"] = f"tax return {tag()}.pdf"
    plaintext = os.urandom(150_000)
    secrets["file plaintext slice"] = plaintext[70_001:70_033]
    expect(page.locator(".v2-status")).to_have_text("Connected")
    page.get_by_label("Email address(es), separated by commas").fill(bob_email)
    page.get_by_role("button", name="Start conversation").click()
    box = page.get_by_label("Message", exact=True)
    box.fill(secrets["text"])
    box.press("Enter")
    expect(page.locator(".v2-timeline .v2-message .text")).to_have_text([secrets["text"]])
    page.get_by_label("Attach a file (or drop files on the conversation)").set_input_files(
        files=[{"name": secrets["file name"], "mimeType": "application/pdf",
                "buffer": plaintext}])
    expect(page.locator(".v2-message.mine.sent .file-name")).to_have_text(
        [secrets["file name"]])

    read = cli(bob_home, server, "read", ada)
    assert secrets["text"] in read
    line = next(x for x in read.splitlines() if "[file]" in x)
    seq = line.split()[0][1:]
    conversation = cli(bob_home, server, "conversations").split()[0]
    secrets["file one-time identity"] = cli(
        bob_home, server, "file-key", "--message", f"{conversation}:{seq}").strip()
    assert secrets["file one-time identity"].startswith("AGE-SECRET-KEY")

    # What Ada's side holds: derived keys, her identity, her recovery code, the device blob.
    config = tmp_path / "ada-library"
    config.mkdir()
    with ClientSession(server.url, config) as session:
        known = account.KnownAccounts(config)
        _, keys = account.derive(session, ada, PASSWORD, known,
                                 min_work_factor=cli_support.TEST_FLOOR)
        unlocked = account.login(session, ada, PASSWORD, known, lambda: "",
                                 min_work_factor=cli_support.TEST_FLOOR)
    secrets.update(key_secrets("ada", PASSWORD, keys))
    secrets.update(identity_secrets("ada", unlocked.identity))
    secrets.update(recovery_secrets("ada", code))
    sealed = max((v for v in device_blob.values() if isinstance(v, str)), key=len)
    assert len(sealed) > 100, device_blob
    secrets["device-key-encrypted identity blob"] = sealed

    assert len(secrets) >= 20

    haystacks = recording.haystacks()
    findings = without(Probe(secrets).search(haystacks), {"ada auth_key": AUTH_KEY_PLACES})
    assert findings == [], "\n".join(map(str, findings))
    assert key_cookies(server.record_path) == []
    assert sealed_identity_sessions() == []
    # Positive control in the same haystacks: auth_key is where it travels by design.
    places = [f.place for f in Probe({"auth_key": keys.auth_key}).search(haystacks)]
    assert any(p.startswith("recorder: POST /api/v1/auth/signup request body") for p in places)
    assert page.errors == [], page.errors


def signed_up_page(new_page, server, email):
    """A page of ``email``, signed up in the shell (recovery code confirmed), verified."""
    page = new_page(server)
    browser_signup(page, email)
    page.get_by_label("I saved my recovery code").check()
    page.get_by_role("button", name="Continue").click()
    expect_signed_in(page, email)
    User.objects.filter(email=email).update(email_verified_at=timezone.now())
    expect(page.locator(".v2-status")).to_have_text("Connected")
    return page


def say(page, text):
    box = page.get_by_label("Message", exact=True)
    box.fill(text)
    box.press("Enter")


def test_a_group_of_two_browsers_and_the_cli_leaves_no_text_or_group_name_anywhere(
        recording, new_page, tmp_path):
    """Issue 13 must-show 1: Ada and Cy in Chromium and Bob on the CLI share a named group;
    all three write, Ada renames it. Every text and both names reach every member (the
    CLI reads them, each page shows them) and none is found anywhere the server reaches."""
    server, secrets = recording.server, {}
    bob_email, bob_home = f"bob-{tag()}@example.org", tmp_path / "bob"
    cli(bob_home, server, "signup", "--email", bob_email, "--key-type",
        settings.SECURECHAT_KEY_TYPE)
    User.objects.filter(email=bob_email).update(email_verified_at=timezone.now())
    ada, cy = f"ada-{tag()}@example.org", f"cy-{tag()}@example.org"
    ada_page, cy_page = (signed_up_page(new_page, server, e) for e in (ada, cy))
    secrets.update({"group name": f"Mill conspiracy {tag()}",
                    "new group name": f"Old mill society {tag()}",
                    "ada's text": f"the key is under the third stone {tag()}",
                    "cy's text": f"I will bring the lantern {tag()}",
                    "bob's text": f"midnight, not a minute later {tag()}"})

    ada_page.get_by_label("Email address(es), separated by commas").fill(f"{bob_email}, {cy}")
    ada_page.get_by_label("Group name (for a group)").fill(secrets["group name"])
    ada_page.get_by_role("button", name="Start conversation").click()
    expect(ada_page.locator("#v2-title")).to_have_text(secrets["group name"])
    say(ada_page, secrets["ada's text"])
    cy_page.locator(".v2-open", has_text=secrets["group name"]).click()
    expect(cy_page.locator("#v2-title")).to_have_text(secrets["group name"])
    say(cy_page, secrets["cy's text"])
    expect(cy_page.locator(".v2-message.mine .state")).not_to_have_text(["Sending…"])
    conversation = cli(bob_home, server, "conversations").split()[0]
    cli(bob_home, server, "send", "--conversation", conversation, secrets["bob's text"])
    ada_page.get_by_label("New group name").fill(secrets["new group name"])
    ada_page.get_by_role("button", name="Rename").click()
    for page in (ada_page, cy_page):
        expect(page.locator("#v2-title")).to_have_text(secrets["new group name"])
        expect(page.locator(".v2-timeline .v2-message .text")).to_have_text(
            [secrets[f"{who}'s text"] for who in ("ada", "cy", "bob")])
    read = cli(bob_home, server, "read", conversation)
    assert all(secrets[f"{who}'s text"] in read for who in ("ada", "cy", "bob"))
    assert secrets["new group name"] in cli(bob_home, server, "conversations")

    findings = Probe(secrets).search(recording.haystacks())
    assert findings == [], "\n".join(map(str, findings))
    # The control, in the same haystacks: Bob's address travels in the clear by design.
    assert Probe({"bob's address": bob_email.encode()}).search(recording.haystacks())
    assert ada_page.errors == [] and cy_page.errors == []


# --- the account flows -------------------------------------------------------------------

# auth_key is the login and step-up credential (docs/api.md): the browser sends it, derived
# from the current or the new password, in exactly these request bodies.
STEP_UP_PLACES = (*AUTH_KEY_PLACES, *(f"recorder: POST {route} request body" for route in (
    "/api/v1/me/totp", "/api/v1/me/v2/password", "/api/v1/me/v2/rotate-keys",
    "/api/v1/me/v2/exported", "/api/v1/auth/v2/reset/confirm", "/api/v1/auth/v2/reset/hold")))


def in_step(device):
    """The device, once its next fresh code is within the one step ahead it accepts (each
    code is used once; a flow with several step-ups may outrun the clock)."""
    while True:
        device.refresh_from_db()
        if device.last_t <= current_t(device):
            return device
        time.sleep(0.5)


def answer_code(page, prompt: str, code: str) -> None:
    """Type ``code`` into the inline second-factor prompt ``#prompt`` the page opened."""
    form = page.locator(f"#{prompt}")
    form.get_by_label(re.compile("authenticator")).fill(code)
    form.get_by_role("button", name="Continue").click()


def sign_up(page, address: str, password: str) -> str:
    """Sign up in the shell with ``password``; the recovery code it showed."""
    key_pages.open_shell(page)
    page.locator("#v2-login").get_by_role("button", name="Sign up").click()
    form = page.locator("#v2-signup-form")
    form.get_by_label("Email address").fill(address)
    form.get_by_label("Password", exact=True).fill(password)
    form.get_by_label("Password again").fill(password)
    form.get_by_role("button", name="Sign up").click()
    return key_pages.confirm_recovery_code(page)


def enrol_two_factor(page, address: str, password: str) -> tuple[ForgivingTOTPDevice, list]:
    """The profile's authenticator set-up (step-up, then a first code); the device and the
    backup codes shown."""
    account_nav(page).get_by_role("link", name="Profile").click()
    page.locator("#v2-profile-totp-password").fill(password)
    page.get_by_role("button", name="Set up an authenticator app").click()
    expect(page.locator("#v2-profile-totp-qr")).to_be_visible()
    device = ForgivingTOTPDevice.objects.get(user__email=address, confirmed=False)
    page.locator("#v2-profile-totp-confirm-code").fill(fresh_code(device))
    page.get_by_role("button", name="Confirm", exact=True).click()
    backup = page.locator("#v2-profile-totp-codes-list li")
    expect(backup).to_have_count(10)
    backup_codes = backup.all_inner_texts()
    page.get_by_role("button", name="I saved my backup codes").click()
    expect(page.locator("#v2-profile-otp")).to_have_text("on")
    account_nav(page).get_by_role("link", name="Chat").click()
    # The chat shows before the next step (it stays mounted, hidden, under /me/).
    expect(page.locator("#v2-chat-root")).to_be_visible()
    expect(page.locator("#v2-chat-root .v2-status")).to_have_text("Connected")
    return ForgivingTOTPDevice.objects.get(pk=device.pk), backup_codes


def account_nav(page):
    return page.get_by_role("navigation", name="Account")


def sealed_device_blob(label: str, page) -> dict[str, str | bytes]:
    """The identity encrypted under the device key, as the page stored it (base64url),
    and a 32-byte slice of its bytes (a long value may be split in a database file)."""
    stored = json.loads(key_pages.device_blob(page))
    sealed = stored["ciphertext"]
    assert len(sealed) > 100, stored
    raw = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
    return {label: sealed, f"{label} slice": raw[len(raw) // 2:len(raw) // 2 + 32]}


class Holdings:
    """What the user's side holds at each step, collected the way DESIGN.md §9 says: the
    keys derived from a password (prelogin's answer, ``client.derivation``), and the
    identity opened from the wrapped copy the server stores (every generation's secrets;
    the signing key of the newest only, so it is collected at each generation)."""

    def __init__(self, server, config: Path, address: str) -> None:
        config.mkdir()
        self.session = ClientSession(server.url, config)
        self.known = account.KnownAccounts(config)
        self.address = address

    def keys(self, password: str):
        return account.derive(self.session, self.address, password, self.known,
                              min_work_factor=cli_support.TEST_FLOOR)[1]

    def secrets(self, who: str, password: str, blob: bytes) -> tuple[dict, IdentityFile]:
        keys = self.keys(password)
        identity = unwrap_with_passphrase(bytes(blob), keys.passphrase)
        return {**key_secrets(who, password, keys), **identity_secrets(who, identity)}, identity

    def stored(self, who: str, password: str) -> tuple[dict, IdentityFile]:
        wrapped = WrappedIdentity.objects.get(user__email=self.address)
        return self.secrets(who, password, wrapped.password_blob)


def recovery_opens(code: str, blob) -> IdentityFile:
    """The code read from the page is the real one: it opens the recovery copy."""
    return unwrap_with_recovery(bytes(blob), code, settings.SECURECHAT_KEY_TYPE)


@pytest.mark.slow
def test_the_browser_account_flows_leave_no_secret_anywhere_the_server_reaches(
        recording, new_page, tmp_path):
    """Eve, in Chromium: signup, an authenticator enrolled in her profile, logout and login
    with a code, a password change with "also rotate my keys", a rotation, an export, a
    reset with her recovery code from the emailed link (new code), a login, a reset
    without the code (held) cancelled from her signed-in tab. Every password, each key
    generation's keys (and signing key), each recovery code, the held reset's identity,
    each device-key blob and the exported file are searched for."""
    server, secrets = recording.server, {}
    eve = f"eve-{tag()}@example.org"
    passwords = [f"Eve's pässwörd / + % {n} {tag()}" for n in range(4)]
    holdings = Holdings(server, tmp_path / "eve-library", eve)

    page = new_page(server)
    codes = [sign_up(page, eve, passwords[0])]
    key_pages.expect_signed_in(page, eve, 1)
    User.objects.filter(email=eve).update(email_verified_at=timezone.now())
    # TOTP codes for the logins; the step-ups take backup codes, so that no step waits for
    # the authenticator's next 30-second code.
    device, backup_codes = enrol_two_factor(page, eve, passwords[0])
    account_nav(page).get_by_role("button", name="Log out").click()
    # The logout is finished when the login view shows: the next step loads "/" afresh,
    # and a page unloaded mid-logout would restore the session the logout had not ended.
    expect(page.locator("#v2-login")).to_be_visible()
    key_pages.login(page, eve, passwords[0], code_for=in_step(device))
    key_pages.expect_signed_in(page, eve, 1)
    signup, identity = holdings.stored("eve signup", passwords[0])
    recovery_opens(codes[0], WrappedIdentity.objects.get(user__email=eve).recovery_blob)
    secrets.update(signup)
    secrets.update(sealed_device_blob("eve device blob 1", page))

    form = page.locator("#v2-keys-password")
    form.get_by_label("Current password").fill(passwords[0])
    form.get_by_label("New password", exact=True).fill(passwords[1])
    form.get_by_label("New password again").fill(passwords[1])
    form.get_by_label("Also rotate my keys").check()
    form.get_by_role("button", name="Change password").click()
    answer_code(page, "v2-keys-code", backup_codes[0])
    expect(page.locator("#v2-status")).to_contain_text("keys rotated (key generation 2)")
    key_pages.expect_signed_in(page, eve, 2)
    changed, identity = holdings.stored("eve change", passwords[1])
    secrets.update(changed)
    secrets.update(sealed_device_blob("eve device blob 2", page))

    rotate = page.locator("#v2-keys-rotate")
    rotate.get_by_label("Current password").fill(passwords[1])
    rotate.get_by_role("button", name="Rotate keys").click()
    answer_code(page, "v2-keys-code", backup_codes[1])
    expect(page.locator("#v2-status")).to_contain_text("key generation 3")
    key_pages.expect_signed_in(page, eve, 3)
    rotated, identity = holdings.stored("eve rotate", passwords[1])
    assert [n for n, _ in identity.generations] == [3, 2, 1]
    secrets.update(rotated)
    secrets.update(sealed_device_blob("eve device blob 3", page))

    export = page.locator("#v2-keys-export")
    export.get_by_label("Current password").fill(passwords[1])
    with page.expect_download(timeout=60_000) as download:
        export.get_by_role("button", name="Export keys").click()
        answer_code(page, "v2-keys-code", backup_codes[2])
    exported = Path(download.value.path()).read_bytes()
    opened = agecrypt.decrypt(exported, [agecrypt.ScryptIdentity(passwords[1],
                                                                  max_work_factor=20)])
    assert IdentityFile.parse(opened).serialize() == identity.serialize()
    secrets["eve exported file (made in the page)"] = exported[-64:-32]

    reset = new_page(server)  # a forgotten password, on another computer
    key_pages.fill_reset(reset, key_pages.ask_reset(reset, server, eve),
                         recovery_code=codes[0], password=passwords[2])
    answer_code(reset, "v2-reset-otp", backup_codes[3])
    codes.append(key_pages.confirm_recovery_code(reset))
    expect(reset.locator("#v2-status")).to_contain_text("history are kept")
    after_reset, identity = holdings.stored("eve reset", passwords[2])
    assert [n for n, _ in identity.generations] == [3, 2, 1]
    recovery_opens(codes[1], WrappedIdentity.objects.get(user__email=eve).recovery_blob)
    secrets.update(after_reset)
    expect(page.locator("#v2-login")).to_be_visible(timeout=15_000)  # every session ended
    key_pages.login(page, eve, passwords[2], code_for=in_step(device))
    key_pages.expect_signed_in(page, eve, 3)
    secrets.update(sealed_device_blob("eve device blob 4", page))

    time.sleep(1.1)  # a link asked for in the same second is the same (spent) token
    key_pages.fill_reset(reset, key_pages.ask_reset(reset, server, eve), recovery_code=None,
                         password=passwords[3])
    answer_code(reset, "v2-reset-otp", backup_codes[4])
    codes.append(key_pages.confirm_recovery_code(reset))
    expect(reset.locator("#v2-status")).to_contain_text("takes effect at")
    hold = HeldReset.objects.get(user__email=eve, state=HeldReset.HELD)
    held_identity, new_identity = holdings.secrets("eve held", passwords[3], hold.password_blob)
    assert new_identity.current_generation == 4
    assert recovery_opens(codes[2], hold.recovery_blob).serialize() == new_identity.serialize()
    secrets.update(held_identity)
    banner = page.locator("#v2-keys-held")
    expect(banner).to_contain_text("WITHOUT your recovery code", timeout=15_000)
    banner.get_by_role("button", name="Cancel the reset").click()
    expect(banner).to_be_hidden()
    hold.refresh_from_db()
    assert hold.state == HeldReset.CANCELLED

    for n, code in enumerate(codes):
        secrets.update(recovery_secrets(f"eve recovery {n}", code))
    assert secrets["eve signup password"] == passwords[0]
    assert secrets["eve held password"] == passwords[3]
    assert len(secrets) >= 60, len(secrets)

    haystacks = recording.haystacks()
    allowed = {label: STEP_UP_PLACES for label in secrets if label.endswith(" auth_key")}
    findings = without(Probe(secrets).search(haystacks), allowed)
    assert findings == [], "\n".join(map(str, findings))
    assert key_cookies(server.record_path) == []
    assert sealed_identity_sessions() == []

    # Positive controls in the same haystacks: each auth_key where it travels by design,
    # the public keys where the server keeps them.
    def seen(value, place: str) -> bool:
        return any(f.place.startswith(place) for f in Probe({"": value}).search(haystacks))

    def sent(label: str, route: str) -> bool:
        return seen(secrets[label], f"recorder: POST {route} request body")

    assert sent("eve signup auth_key", "/api/v1/auth/signup")
    assert sent("eve signup auth_key", "/api/v1/me/totp")
    assert sent("eve change auth_key", "/api/v1/me/v2/password")
    assert sent("eve rotate auth_key", "/api/v1/me/v2/rotate-keys")
    assert sent("eve rotate auth_key", "/api/v1/me/v2/exported")
    assert sent("eve reset auth_key", "/api/v1/auth/v2/reset/confirm")
    assert sent("eve reset auth_key", "/api/v1/auth/login")
    assert sent("eve held auth_key", "/api/v1/auth/v2/reset/hold")
    assert seen(identity.signing_public_key(), "database")
    assert seen(new_identity.signing_public_key(), "database")
    assert seen(new_identity.recipient(), "recorder: POST /api/v1/auth/v2/reset/hold request")
    assert page.errors == [] and reset.errors == [], (page.errors, reset.errors)
