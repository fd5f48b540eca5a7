"""No unwrap in the server (issue 12 "What it must show" 2, issue 13 1).

One uvicorn runs with ``SECURECHAT_TEST_NO_UNWRAP``: while Django loads
tests/settings.py, tests/support/no_unwrap.py replaces agecrypt's identity
parsing and construction and every decrypt entry point (``decrypt``,
``decrypt_stream``, ``FileCipher.open``/``decrypt_chunk``/``decrypt_range``,
the file-key unwrap, each identity's stanza unwrap, the payload STREAM open)
with functions that log the call and raise. Against it, every version 2 flow a
user runs with the ``securechat`` CLI stays green: signup, password change,
key rotation, export, login with a TOTP code, reset with the recovery code and
without it (held, cancelled, published), a group conversation of three (over
HTTP, and live over the websocket with ``listen``), and a file upload and
download. After each test the server's call log holds no call.

Positive control: the server logged the patch at start with its pid, and the
test-only probe URL (tests/support/no_unwrap_urls.py, mounted only by this
setting) calls each entry point inside the server process: every one refuses,
no loaded module kept a reference to an original, and the calls are on record.
"""

from __future__ import annotations

import hashlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

import agecrypt
from accounts.models import HeldReset, KeyGeneration, User
from client.identity import IdentityFile
from tests.accounts import clear_rate_limits, enrol_totp, fresh_code, fresh_rate_limits  # noqa: F401
from tests.client import cli_support
from tests.client.test_cli_account_changes import reset_link
from tests.client.test_cli_messages import CliUser, messages
from tests.support import no_unwrap
from tests.support.live import REPO_ROOT, LiveServer
from tests.support.no_unwrap_urls import PROBE_PATH, _outcome

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_rate_limits")]

PASSWORD = "correct horse battery staple"  # CliUser's
NEW_PASSWORD = "an entirely new passphrase 42"
THIRD_PASSWORD = "and a third one, after the reset"


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker, redis_url, tmp_path_factory):
    """One uvicorn for the module, agecrypt's unwrap paths disabled inside it."""
    workdir = tmp_path_factory.mktemp("no-unwrap")
    with django_db_blocker.unblock():
        live = LiveServer(kind="uvicorn", workdir=workdir, extra_env={
            no_unwrap.ENV: str(workdir / "unwrap-calls.log")}).start()
    live.calls_path = workdir / "unwrap-calls.log"
    yield live
    live.stop()


def flow_calls(server) -> list[str]:
    """Calls of a patched entry point made by the server, the probe's own left out."""
    return [line for line in no_unwrap.calls(server.calls_path) if "no_unwrap_urls.py" not in line]


@pytest.fixture(autouse=True)
def nothing_unwrapped(server):
    before = flow_calls(server)
    yield
    assert flow_calls(server)[len(before):] == [], server.log()[-4000:]


@dataclass
class Person:
    """A home directory the CLI runs in, for one address."""

    server: LiveServer
    home: Path
    email: str


def cli(user: CliUser | Person, *args: str, stdin: str):
    result = cli_support.run_cli(user.home, "--server", user.server.url, "--password-stdin",
                                 *args, stdin=stdin)
    assert result.returncode == 0, result
    return result.stdout


def test_the_server_process_runs_with_the_patch(server):
    """Positive control: the banner with the server's pid, and each entry point refusing
    when the probe calls it inside that process (the same calls run here, unpatched)."""
    assert f"{no_unwrap.BANNER} {server.pid}:" in server.log()
    answer = httpx.get(f"{server.url}/{PROBE_PATH}", timeout=30).json()
    assert answer["pid"] == server.pid
    assert answer["unpatched"] == []
    assert len(answer["results"]) >= 40
    assert {label: outcome for label, outcome in answer["results"].items()
            if outcome != "refused"} == {}
    recorded = [line for line in no_unwrap.calls(server.calls_path) if f"pid={server.pid}" in line]
    assert len(recorded) >= len(answer["results"])
    # The probe can tell: the same call in this (unpatched) process runs.
    assert _outcome(agecrypt.X25519Identity.generate) == "ran"
    assert _outcome(lambda: agecrypt.decrypt(b"", [])).startswith("ran (")


def test_account_flows_with_the_cli(server, tmp_path):
    """Signup, password change, rotation (alone and with a password change), export, login
    with a TOTP code, reset with the recovery code and without it (held, cancelled,
    published)."""
    dora = Person(server, tmp_path / "dora", f"dora-{os.getpid()}-{time.time_ns()}@example.org")
    signup = cli(dora, "signup", "--email", dora.email, "--key-type",
                 settings.SECURECHAT_KEY_TYPE, stdin=PASSWORD + "\n")
    recovery_code = signup.splitlines()[1].strip()
    User.objects.filter(email=dora.email).update(email_verified_at=timezone.now())
    cli(dora, "change-password", stdin=f"{PASSWORD}\n{NEW_PASSWORD}\n")
    assert "key generation 2" in cli(dora, "rotate-keys", stdin=NEW_PASSWORD + "\n")
    assert "key generation 3" in cli(dora, "change-password", "--rotate-keys",
                                     stdin=f"{NEW_PASSWORD}\n{PASSWORD}\n")
    export = tmp_path / "dora.age"
    cli(dora, "export-identity", "--output", str(export), stdin=PASSWORD + "\n")
    exported = IdentityFile.parse(agecrypt.decrypt(  # here, on the user's side
        export.read_bytes(), [agecrypt.ScryptIdentity(PASSWORD, max_work_factor=20)]))
    assert exported.current_generation == 3 and len(exported.generations) == 3

    device, _ = enrol_totp(User.objects.get(email=dora.email))
    laptop = Person(server, tmp_path / "laptop", dora.email)
    login = cli(laptop, "login", "--email", dora.email,
                stdin=f"{PASSWORD}\n{fresh_code(device)}\n")
    assert "key generation 3, checked" in login

    link = reset_link(server, tmp_path / "mailer", dora.email)
    reset = cli(laptop, "reset", "--email", dora.email,
                stdin=f"{link}\n{recovery_code}\n{NEW_PASSWORD}\n{fresh_code(device)}\n")
    assert "NEW recovery code" in reset
    cli(laptop, "login", "--email", dora.email, stdin=f"{NEW_PASSWORD}\n{fresh_code(device)}\n")
    stranger = Person(server, tmp_path / "stranger", dora.email)  # holds the emailed links

    time.sleep(1.1)  # a link asked for in the same second is the same (spent) token
    link = reset_link(server, tmp_path / "mailer", dora.email)
    held = cli(stranger, "reset", "--email", dora.email,
               stdin=f"{link}\nhold\n{THIRD_PASSWORD}\n{fresh_code(device)}\n")
    assert "takes effect at" in held
    clear_rate_limits()  # the reset endpoints share a small per-account budget
    assert "signed by key generation" in cli(laptop, "cancel-reset", stdin=NEW_PASSWORD + "\n")
    time.sleep(1.1)
    clear_rate_limits()
    link = reset_link(server, tmp_path / "mailer", dora.email)
    cli(stranger, "reset", "--email", dora.email,
        stdin=f"{link}\nhold\n{THIRD_PASSWORD}\n{fresh_code(device)}\n")
    HeldReset.objects.filter(state=HeldReset.HELD).update(publish_at=timezone.now())
    with no_unwrap.disabled(server.calls_path):  # the command is the server's too
        call_command("publish_held_resets", stdout=open(os.devnull, "w"))  # noqa: SIM115
    assert KeyGeneration.objects.filter(user__email=dora.email).count() == 4
    login = cli(laptop, "login", "--email", dora.email,
                stdin=f"{THIRD_PASSWORD}\n{fresh_code(device)}\n")
    assert "key generation 4, checked" in login


def test_a_group_of_three_with_the_cli(server, tmp_path):
    alice, bob, carol = (CliUser(server, tmp_path, n) for n in ("alice", "bob", "carol"))
    cid = alice.ok("new", bob.email, carol.email, "--name", "Book club").split()[2]
    assert "Book club" in carol.ok("conversations")
    alice.ok("send", cid, "hello both")
    bob.ok("send", cid, "hi alice")
    carol.ok("send", cid, "-", text="hi all\nfrom carol\n")
    for reader in (alice, bob, carol):
        assert [m.split(":")[0] for m in messages(reader.ok("read", cid))] == [
            alice.email, bob.email, carol.email]
    assert "removed" in alice.ok("members", cid, "--remove", bob.email)
    with listening(carol, cid) as lines:  # the websocket path: live delivery
        alice.ok("send", cid, "bob is gone")
        assert lines.get(timeout=60).strip().split(" ", 1)[1] == f"{alice.email}: bob is gone"
    assert messages(carol.ok("read", cid))[-1] == f"{alice.email}: bob is gone"


@contextmanager
def listening(user: CliUser, conversation: str):
    """``securechat listen CONVERSATION`` running for ``user``: a queue of the lines it
    prints after "listening to …" (stopped with Ctrl-C at the end)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", cli_support.BOOT, str(cli_support.TEST_FLOOR), "--server",
         user.server.url, "--password-stdin", "listen", conversation],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=REPO_ROOT, env=cli_support.cli_env(user.home), start_new_session=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()
    try:
        proc.stdin.write(PASSWORD + "\n")
        proc.stdin.close()
        assert lines.get(timeout=60).startswith("listening to ")
        yield lines
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_file_upload_and_download_with_the_cli(server, tmp_path):
    alice, bob = CliUser(server, tmp_path, "alice"), CliUser(server, tmp_path, "bob")
    cid = alice.ok("new", bob.email).split()[2]
    data = os.urandom(300_000)
    (tmp_path / "report.pdf").write_bytes(data)
    assert "(300000 bytes)" in alice.ok("send", cid, "--file", str(tmp_path / "report.pdf"))
    line = next(x for x in bob.ok("read", cid).splitlines() if "[file]" in x)
    out = tmp_path / "inbox"
    out.mkdir()
    saved = bob.ok("download", "--message", f"{cid}:{line.split()[0][1:]}", "-o", str(out))
    assert "file_hash verified" in saved
    assert hashlib.sha256((out / "report.pdf").read_bytes()).digest() == \
        hashlib.sha256(data).digest()
    # A bare upload, downloaded by reference.
    alice.ok("upload", str(tmp_path / "report.pdf"), "--ref-out", str(tmp_path / "ref.json"))
    alice.ok("download", "--ref", str(tmp_path / "ref.json"), "-o", str(tmp_path / "again"))
    assert (tmp_path / "again").read_bytes() == data
    assert settings.SECURECHAT_KEY_TYPE in ("hybrid", "x25519")
