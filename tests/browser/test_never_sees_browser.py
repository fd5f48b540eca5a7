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
"""

from __future__ import annotations

import json
import os

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import User
from client import account
from client.http import Session as ClientSession
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
    key_secrets,
    recovery_secrets,
    tag,
)
from tests.support.bundle import build
from tests.support.live import LiveServer, RedisServer
from tests.support.probes import OpenFileSampler, Probe, RedisMonitor, without

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CLI_PASSWORD = "the recipient's own password 77"


@pytest.fixture
def recording(transactional_db, redis_url, tmp_path):
    """tests/securechat/test_never_sees.py's recording server, with the test bundles."""
    bundles = tmp_path / "bundle"
    build(bundles, test_variant=True)
    with RedisServer() as redis_server:
        monitor = RedisMonitor(redis_server.url)
        server = LiveServer("uvicorn", tmp_path / "server", record=True, extra_env={
            "LOG_LEVEL": "DEBUG", "REDIS_URL": redis_server.url,
            "SECURECHAT_TEST_BUNDLE_DIR": str(bundles)}, extra_args=["--log-level", "debug"])
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
    # Positive control in the same haystacks: auth_key is where it travels by design.
    places = [f.place for f in Probe({"auth_key": keys.auth_key}).search(haystacks)]
    assert any(p.startswith("recorder: POST /api/v1/auth/signup request body") for p in places)
    assert page.errors == [], page.errors
