"""The ``securechat`` CLI changing a version 2 account against one live server (per module):
change-password (with and without --rotate-keys), rotate-keys, reset with the emailed link
and the recovery code (also with a second factor), the reset without it (held, cancelled
by cancel-reset, published after the hold), and the work-factor upgrade at login.

The last test runs the same flows through the client library in this process over a
recording transport: no request body holds the password, the new password or a
recovery code, in any of the encodings below (with a positive control).
"""

from __future__ import annotations

import base64
import email
import os
import re
import time

import httpx
import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from accounts.models import ClientAuth, HeldReset, KeyGeneration, User
from client import account as client_account
from client import changes
from client.http import Session
from client.recovery import generate_code
from tests.accounts import enrol_totp, fresh_code, fresh_rate_limits  # noqa: F401
from tests.client import cli_support
from tests.client.cli_support import TEST_FLOOR, assert_one_error_line
from tests.support.live import LiveServer

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_rate_limits")]

EMAIL = "dora@example.org"
PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "an entirely new passphrase 42"
LINK = re.compile(r"https?://[^/\s]+/password-reset/[^/\s]+/[^/\s]+/")


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker, redis_url, tmp_path_factory):
    """One uvicorn for the module: the tests' rows are flushed between tests, not it."""
    with django_db_blocker.unblock():
        live = LiveServer(kind="uvicorn", workdir=tmp_path_factory.mktemp("server")).start()
    yield live
    live.stop()


def cli(home, server, *args, stdin=PASSWORD + "\n"):
    return cli_support.run_cli(home, "--server", server.url, "--password-stdin", *args,
                               stdin=stdin)


def signup(home, server) -> str:
    """Sign up with the CLI (address verified afterwards); the recovery code it printed."""
    result = cli(home, server, "signup", "--email", EMAIL, "--key-type",
                 settings.SECURECHAT_KEY_TYPE)
    assert result.returncode == 0, result
    User.objects.filter(email=EMAIL).update(email_verified_at=timezone.now())
    return result.stdout.splitlines()[1].strip()


def mailed_bodies(path) -> list[str]:
    """The decoded bodies of the messages in one file of the server's outbox."""
    bodies = []
    for raw in path.read_text(errors="replace").split("\n" + "-" * 79 + "\n"):
        if raw.strip():
            message = email.message_from_string(raw.lstrip("\n"))
            bodies.append((message.get_payload(decode=True) or b"").decode("utf-8", "replace"))
    return bodies


def reset_link(server, workdir, email: str = EMAIL) -> str:
    """Ask for a reset link (as a client would) and read it from the server's mail."""
    workdir.mkdir(mode=0o700, exist_ok=True)
    before = set(server.mail_dir.glob("*"))
    with Session(server.url, workdir) as session:
        session.post("/api/v1/auth/password-reset", {"email": email})
    deadline = time.monotonic() + 30  # sent after the response, by a thread
    while time.monotonic() < deadline:
        for path in set(server.mail_dir.glob("*")) - before:
            for body in mailed_bodies(path):
                if match := LINK.search(body):
                    return match.group(0)
        time.sleep(0.1)
    raise AssertionError("no reset link was mailed")


def generations() -> list[int]:
    return list(KeyGeneration.objects.filter(user__email=EMAIL).order_by("number")
                .values_list("number", flat=True))


def test_change_password_keeps_this_session_and_ends_the_others(server, tmp_path):
    signup(tmp_path / "a", server)
    assert cli(tmp_path / "b", server, "login", "--email", EMAIL).returncode == 0
    result = cli(tmp_path / "a", server, "change-password",
                 stdin=f"{PASSWORD}\n{NEW_PASSWORD}\n")
    assert result.returncode == 0, result
    assert "other sessions ended" in result.stdout
    assert cli_support.run_cli(tmp_path / "a", "whoami").returncode == 0
    assert_one_error_line(cli_support.run_cli(tmp_path / "b", "whoami"), "[not_logged_in]")
    assert_one_error_line(cli(tmp_path / "c", server, "login", "--email", EMAIL),
                          "[invalid_credentials]")
    login = cli(tmp_path / "c", server, "login", "--email", EMAIL, stdin=NEW_PASSWORD + "\n")
    assert login.returncode == 0 and "key generation 1, checked" in login.stdout, login
    # A wrong current password changes nothing (one error line, no traceback).
    wrong = cli(tmp_path / "c", server, "change-password",
                stdin=f"not the password!!\n{PASSWORD}\n")
    assert_one_error_line(wrong)
    assert cli(tmp_path / "d", server, "login", "--email", EMAIL,
               stdin=NEW_PASSWORD + "\n").returncode == 0


def test_rotate_keys_and_change_password_with_rotation(server, tmp_path):
    signup(tmp_path / "a", server)
    result = cli(tmp_path / "a", server, "rotate-keys")
    assert result.returncode == 0 and "key generation 2" in result.stdout, result
    assert generations() == [1, 2]
    fingerprint = cli(tmp_path / "a", server, "fingerprint")  # unlock checks the chain
    assert fingerprint.returncode == 0 and "key generation 2" in fingerprint.stdout
    result = cli(tmp_path / "a", server, "change-password", "--rotate-keys",
                 stdin=f"{PASSWORD}\n{NEW_PASSWORD}\n")
    assert result.returncode == 0 and "key generation 3" in result.stdout, result
    login = cli(tmp_path / "b", server, "login", "--email", EMAIL, stdin=NEW_PASSWORD + "\n")
    assert login.returncode == 0 and "key generation 3, checked" in login.stdout, login
    # A directory whose endorsement was tampered with is refused at login.
    row = KeyGeneration.objects.get(user__email=EMAIL, number=3)
    row.endorsement = bytes(64)
    row.save(update_fields=["endorsement"])
    assert_one_error_line(cli(tmp_path / "c", server, "login", "--email", EMAIL,
                              stdin=NEW_PASSWORD + "\n"), "[directory_mismatch]")


def test_reset_with_the_recovery_code_and_the_second_factor(server, tmp_path):
    code = signup(tmp_path / "a", server)
    totp, _ = enrol_totp(User.objects.get(email=EMAIL))
    link = reset_link(server, tmp_path / "mailer")
    bad = cli(tmp_path / "b", server, "reset", "--email", EMAIL,
              stdin=f"{link}\n{generate_code()}\n{NEW_PASSWORD}\n")
    assert_one_error_line(bad, "[unwrap_failed]")  # another code: nothing sent, nothing changed
    before = ClientAuth.objects.get(user__email=EMAIL).auth_hash
    result = cli(tmp_path / "b", server, "reset", "--email", EMAIL,
                 stdin=f"{link}\n{code}\n{NEW_PASSWORD}\n{fresh_code(totp)}\n")
    assert result.returncode == 0, result
    assert ClientAuth.objects.get(user__email=EMAIL).auth_hash != before
    lines = result.stdout.splitlines()
    new_code = lines[lines.index(next(x for x in lines if "NEW recovery code" in x)) + 1].strip()
    assert new_code != code and len(new_code.replace("-", "")) == 26
    login = cli(tmp_path / "c", server, "login", "--email", EMAIL,
                stdin=f"{NEW_PASSWORD}\n{fresh_code(totp)}\n")
    assert login.returncode == 0 and "key generation 1, checked" in login.stdout, login
    # The same link again: refused, nothing changed.
    hash_now = ClientAuth.objects.get(user__email=EMAIL).auth_hash
    again = cli(tmp_path / "d", server, "reset", "--email", EMAIL,
                stdin=f"{link}\n{new_code}\n{PASSWORD}\n")
    assert_one_error_line(again, "[invalid_link]")
    assert ClientAuth.objects.get(user__email=EMAIL).auth_hash == hash_now


def test_login_upgrades_an_account_below_the_servers_work_factor(server, tmp_path,
                                                                  start_server):
    signup(tmp_path / "a", server)
    assert ClientAuth.objects.get(user__email=EMAIL).work_factor == 10
    raised = start_server("uvicorn", SECURECHAT_TEST_CLIENT_WORK_FACTOR="11")
    login = cli(tmp_path / "b", raised, "login", "--email", EMAIL)
    assert login.returncode == 0, login
    assert ClientAuth.objects.get(user__email=EMAIL).work_factor == 11
    # The CLI remembers the raise: a server that later answers 10 is refused.
    remembered = (tmp_path / "b" / ".config" / "securechat" / "accounts.json").read_text()
    assert '"work_factor": 11' in remembered
    assert cli(tmp_path / "c", raised, "login", "--email", EMAIL).returncode == 0


class RecordingTransport(httpx.HTTPTransport):
    """Every request body the client sends, as bytes."""

    def __init__(self):
        super().__init__()
        self.bodies: list[bytes] = []

    def handle_request(self, request):
        self.bodies.append(request.read())
        return super().handle_request(request)


def forms(secret: str) -> list[bytes]:
    raw = secret.encode()
    return [raw, raw.hex().encode(), base64.b64encode(raw),
            base64.urlsafe_b64encode(raw).rstrip(b"="), base64.b64encode(raw).rstrip(b"=")]


def test_no_request_of_the_changes_carries_a_password_or_a_recovery_code(server, tmp_path):
    code = signup(tmp_path / "a", server)
    recorder = RecordingTransport()
    known = client_account.KnownAccounts(tmp_path)
    with Session(server.url, tmp_path, transport=recorder) as session:
        client_account.login(session, EMAIL, PASSWORD, known, lambda: "",
                             min_work_factor=TEST_FLOOR)
        changes.change_password(session, EMAIL, PASSWORD, NEW_PASSWORD, known, lambda: "",
                                rotate=True, min_work_factor=TEST_FLOOR)
        changes.rotate_keys(session, EMAIL, NEW_PASSWORD, known, lambda: "",
                            min_work_factor=TEST_FLOOR)
        link = changes.parse_reset_link(reset_link(server, tmp_path / "mailer"))
        recovered = changes.reset_with_recovery_code(
            session, EMAIL, link, code, lambda: PASSWORD, known, lambda: "",
            min_work_factor=TEST_FLOOR)
        time.sleep(1.1)  # a link asked for in the same second is the same (spent) token
        held = changes.hold_reset(
            session, EMAIL, changes.parse_reset_link(reset_link(server, tmp_path / "mailer")),
            lambda: NEW_PASSWORD, known, lambda: "", min_work_factor=TEST_FLOOR)
        unlocked = client_account.login(session, EMAIL, PASSWORD, known, lambda: "",
                                        min_work_factor=TEST_FLOOR)
        assert changes.cancel_held_reset(session, unlocked.identity) is not None
    sent = b"\n".join(recorder.bodies)
    assert len(recorder.bodies) > 10
    for secret in (PASSWORD, NEW_PASSWORD, code, recovered.recovery_code, held.recovery_code):
        for form in forms(secret):
            assert form not in sent, secret
    assert generations() == [1, 2, 3]
    # Positive control: a password that did go out would be found.
    with Session(server.url, tmp_path, transport=recorder) as session, \
            pytest.raises(Exception):  # noqa: B017 - any refusal; the body is what counts
        session.post("/api/v1/auth/prelogin", {"email": PASSWORD})
    assert any(form in b"\n".join(recorder.bodies) for form in forms(PASSWORD))


def test_reset_without_the_code_is_held_cancelled_by_a_signed_cancel_then_published(
        server, tmp_path):
    signup(tmp_path / "a", server)
    link = reset_link(server, tmp_path / "mailer")
    result = cli(tmp_path / "b", server, "reset", "--email", EMAIL,
                 stdin=f"{link}\nhold\n{NEW_PASSWORD}\n")
    assert result.returncode == 0 and "takes effect at" in result.stdout, result
    assert HeldReset.objects.get(user__email=EMAIL).state == HeldReset.HELD
    # The owner's CLI (still logged in: nothing changed yet) cancels with its current key.
    cancel = cli(tmp_path / "a", server, "cancel-reset")
    assert cancel.returncode == 0 and "signed by key generation 1" in cancel.stdout, cancel
    assert HeldReset.objects.get(user__email=EMAIL).state == HeldReset.CANCELLED

    time.sleep(1.1)  # a link asked for in the same second is the same (spent) token
    link = reset_link(server, tmp_path / "mailer")
    assert cli(tmp_path / "b", server, "reset", "--email", EMAIL,
               stdin=f"{link}\nhold\n{NEW_PASSWORD}\n").returncode == 0
    HeldReset.objects.filter(state=HeldReset.HELD).update(publish_at=timezone.now())
    call_command("publish_held_resets", stdout=open(os.devnull, "w"))  # noqa: SIM115
    assert generations() == [1, 2]
    login = cli(tmp_path / "c", server, "login", "--email", EMAIL, stdin=NEW_PASSWORD + "\n")
    assert login.returncode == 0 and "key generation 2, checked" in login.stdout, login
    assert_one_error_line(cli(tmp_path / "d", server, "login", "--email", EMAIL),
                          "[invalid_credentials]")
