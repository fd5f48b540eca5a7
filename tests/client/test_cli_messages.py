"""The ``securechat`` messaging commands as a user runs them: another process, Django blocked.

Two CLI users write to each other; a group of three is made, loses a member and one
leaves; ``listen`` prints live messages, resumes after a server restart without a
duplicate and stops cleanly on Ctrl-C; the safety
number is the same on both sides; a lying server (rows tampered in the database) is
caught; bad input is one error line and sends nothing.
"""

from __future__ import annotations

import itertools
import os
import queue
import signal
import subprocess
import sys
import threading
import time

import pytest
from django.conf import settings
from django.utils import timezone

from accounts.models import User
from client import membership
from messaging.models import ConversationV2, MembershipOperation, MessageV2
from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.client import cli_support
from tests.client.cli_support import assert_one_error_line
from tests.support.live import REPO_ROOT

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_rate_limits")]

PASSWORD = "correct horse battery staple"
_names = itertools.count(1)


@pytest.fixture
def server(start_shared_server):
    """One uvicorn for the module's tests (rows and files are emptied after each)."""
    return start_shared_server("uvicorn")


@pytest.fixture
def own_server(start_server):
    """A uvicorn of the test's own, for a test that restarts it or reads its whole log."""
    return start_server("uvicorn")


class CliUser:
    """One person with their own home directory, running ``securechat`` commands."""

    def __init__(self, server, tmp_path, name: str):
        self.server = server
        self.email = f"{name}{next(_names)}-{os.getpid()}@example.org"
        self.home = tmp_path / name
        result = self.run("signup", "--email", self.email, "--key-type",
                          settings.SECURECHAT_KEY_TYPE)
        assert result.returncode == 0, result
        User.objects.filter(email=self.email).update(email_verified_at=timezone.now())
        self.id = User.objects.get(email=self.email).pk

    def run(self, *args: str, text: str | None = None) -> cli_support.Result:
        stdin = PASSWORD + "\n" + (text if text is not None else "")
        return cli_support.run_cli(self.home, "--server", self.server.url, "--password-stdin",
                                   *args, stdin=stdin)

    def ok(self, *args: str, **kw) -> str:
        result = self.run(*args, **kw)
        assert result.returncode == 0, result
        assert result.stderr == "", result
        return result.stdout


def messages(read_output: str) -> list[str]:
    """The message lines of ``securechat read`` ("#seq sender: text"), events left out."""
    return [line.split(" ", 1)[1] for line in read_output.splitlines()
            if line.startswith("#") and " * " not in line]


def test_two_users_write_both_ways_and_read_everything_once_in_order(server, tmp_path):
    alice, bob = CliUser(server, tmp_path, "alice"), CliUser(server, tmp_path, "bob")
    created = alice.ok("new", bob.email)
    cid = created.split()[2]
    assert created.startswith("direct conversation ") and len(cid) == 32
    alice.ok("send", bob.email, "hello bob")
    listing = bob.ok("conversations")
    assert cid[:12] in listing and alice.email in listing and "1 unread" in listing
    bob.ok("send", cid[:6], "-", text="hello alice\nsecond line\n")  # a prefix, stdin
    alice.ok("send", bob.email, "how are you?")
    expected = [f"{alice.email}: hello bob", f"{bob.email}: hello alice",
                f"{alice.email}: how are you?"]
    first = bob.ok("read", alice.email)
    assert messages(first)[:1] + messages(first)[2:] == [expected[0], expected[2]]
    assert "second line" in first and "warning" not in first.lower()
    # Reading again (a new process: a reconnect) shows every message exactly once, in order.
    again = alice.ok("read", cid)
    assert [m.split(":")[0] for m in messages(again)] == [alice.email, bob.email, alice.email]
    seqs = [int(line.split()[0][1:]) for line in again.splitlines() if line.startswith("#")]
    assert seqs == sorted(set(seqs))
    assert "0 unread" in bob.ok("conversations")  # read marks the position
    since = alice.ok("read", cid, "--since", str(seqs[-2]))
    assert messages(since) == [expected[2]]
    assert not any(b"hello" in bytes(m.box) for m in MessageV2.objects.all())


def test_a_group_of_three_adds_removes_and_leaves(server, tmp_path):
    alice, bob, carol = (CliUser(server, tmp_path, n) for n in ("alice", "bob", "carol"))
    cid = alice.ok("new", bob.email, carol.email, "--name", "Book club").split()[2]
    assert "Book club" in bob.ok("conversations")
    bob.ok("send", cid, "hi all")
    members = alice.ok("members", cid)
    assert f"{alice.email}  (admin, you)" in members and bob.email in members
    assert "removed" in alice.ok("members", cid, "--remove", bob.email)
    alice.ok("send", cid, "bob is gone")
    assert messages(carol.ok("read", cid)) == [f"{bob.email}: hi all",
                                               f"{alice.email}: bob is gone"]
    assert_one_error_line(bob.run("read", cid), "no conversation of yours matches")
    assert_one_error_line(bob.run("send", cid, "let me in"), "no conversation")
    assert_one_error_line(carol.run("members", cid, "--remove", alice.email), "only an admin")
    carol.ok("members", cid, "--leave")
    alice.ok("send", cid, "alone")
    history = alice.ok("read", cid)
    assert "removed" in history and "left" in history
    assert messages(history)[-1] == f"{alice.email}: alone"


def test_listen_prints_live_messages_resumes_after_a_restart_and_stops_on_ctrl_c(own_server,
                                                                                  tmp_path):
    server = own_server  # restarted below
    alice, bob = CliUser(server, tmp_path, "alice"), CliUser(server, tmp_path, "bob")
    cid = alice.ok("new", bob.email).split()[2]
    alice.ok("send", cid, "before listening")
    proc = subprocess.Popen(
        [sys.executable, "-c", cli_support.BOOT, str(cli_support.TEST_FLOOR), "--server",
         server.url, "--password-stdin", "listen", alice.email],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=REPO_ROOT, env=cli_support.cli_env(bob.home), start_new_session=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()
    try:
        proc.stdin.write(PASSWORD + "\n")
        proc.stdin.close()
        try:
            first = lines.get(timeout=60)
        except queue.Empty:
            proc.kill()
            pytest.fail(f"listen printed nothing: {proc.stderr.read()}")
        assert first.startswith("listening to "), first
        alice.ok("send", cid, "live one")
        alice.ok("send", cid, "live two")
        got = [lines.get(timeout=30).strip(), lines.get(timeout=30).strip()]
        assert [g.split(" ", 1)[1] for g in got] == [f"{alice.email}: live one",
                                                   f"{alice.email}: live two"]
        time.sleep(0.3)
        assert lines.empty()  # nothing twice, and the old message was not replayed
        # The server restarts: listen reconnects and resumes where it was, exactly once.
        server.stop()
        server.start()
        alice.ok("send", cid, "after the restart")
        assert lines.get(timeout=90).strip().split(" ", 1)[1] == (
            f"{alice.email}: after the restart")
        time.sleep(0.3)
        assert lines.empty()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
        stderr = proc.stderr.read().strip().splitlines()
        assert stderr[-2:] == ["reconnected", "stopped listening"], stderr
        assert any(line.startswith("connection lost") for line in stderr), stderr
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_safety_number_matches_on_both_sides_and_verify_marks_it(server, tmp_path):
    alice, bob = CliUser(server, tmp_path, "alice"), CliUser(server, tmp_path, "bob")
    mine = alice.ok("safety-number", bob.email).splitlines()
    theirs = bob.ok("safety-number", alice.email).splitlines()
    assert mine[1] == theirs[1] and len(mine[1].split()) == 12 and "not verified" in mine[2]
    assert "Marked" in alice.ok("safety-number", bob.email, "--verify")
    cid = alice.ok("new", bob.email).split()[2]
    assert f"{bob.email}  (verified)" in alice.ok("members", cid)
    assert f"{alice.email}  (admin)" in bob.ok("members", cid)  # Bob verified nobody


def test_a_lying_server_is_caught(server, tmp_path):
    alice, bob = CliUser(server, tmp_path, "alice"), CliUser(server, tmp_path, "bob")
    cid = alice.ok("new", bob.email).split()[2]
    alice.ok("send", cid, "genuine")
    alice.ok("send", cid, "to be tampered")
    row = MessageV2.objects.filter(conversation_id=cid).order_by("seq").last()
    box = bytearray(bytes(row.box))
    box[40] ^= 1
    MessageV2.objects.filter(pk=row.pk).update(box=bytes(box))
    shown = bob.ok("read", cid)
    assert f"{alice.email}: genuine" in shown
    assert f"{alice.email}: [FAILED] this message failed verification" in shown
    assert "to be tampered" not in shown
    # A membership operation the server inserts itself (signed by a key no member has).
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    conversation = ConversationV2.objects.get(pk=cid)
    forged = membership.Operation(
        bytes.fromhex(cid), conversation.head_index + 1, bytes(conversation.head), alice.id,
        1, "remove", target_id=bob.id)
    data, signature = membership.sign_operation(Ed25519PrivateKey.generate(), forged)
    seq = conversation.last_seq + 1
    MembershipOperation.objects.create(
        conversation=conversation, index=forged.index, prev_hash=forged.prev_hash,
        op_hash=membership.operation_hash(data), kind="remove", actor_id=alice.id,
        statement=data, signature=signature, seq=seq)
    ConversationV2.objects.filter(pk=cid).update(
        last_seq=seq, head=membership.operation_hash(data), head_index=forged.index)
    for user in (alice, bob):
        assert_one_error_line(user.run("read", cid), "membership chain", "does not verify",
                              "[chain_refused]")
    assert f"{cid[:12]}  REFUSED: the membership chain" in bob.ok("conversations")
    count = MessageV2.objects.count()
    assert_one_error_line(alice.run("send", cid, "not on a forged chain"), "[chain_refused]")
    assert MessageV2.objects.count() == count


def test_bad_input_is_one_error_line_and_sends_nothing(server, tmp_path):
    alice, bob = CliUser(server, tmp_path, "alice"), CliUser(server, tmp_path, "bob")
    assert_one_error_line(alice.run("new", "nobody-at-all@example.org"), "[not_found]")
    cid = alice.ok("new", bob.email).split()[2]
    assert_one_error_line(alice.run("send", cid, ""), "the message is empty")
    assert_one_error_line(alice.run("send", cid, "-", text="\n"), "the message is empty")
    assert_one_error_line(alice.run("send", cid, "x" * 49_000), "too long")
    assert_one_error_line(alice.run("send", "ffffffff", "hello"), "no conversation")
    assert not MessageV2.objects.exists()
    alice.ok("send", cid, "positive control: a good message is stored")
    assert MessageV2.objects.count() == 1


def test_a_key_change_blocks_sending_until_the_safety_number_is_verified(server, tmp_path):
    from accounts.models import KeyGeneration
    from client.identity import _new_identity

    alice, bob = CliUser(server, tmp_path, "alice"), CliUser(server, tmp_path, "bob")
    cid = alice.ok("new", bob.email).split()[2]
    alice.ok("send", cid, "before the change")
    # The directory now shows Bob a new, unendorsed generation (a reset without recovery,
    # or a server lying about his keys).
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    KeyGeneration.objects.filter(user_id=bob.id).update(retired_at=timezone.now())
    KeyGeneration.objects.create(
        user_id=bob.id, number=2, key_type=settings.SECURECHAT_KEY_TYPE,
        recipient=str(_new_identity(settings.SECURECHAT_KEY_TYPE).recipient()),
        signing_public_key=Ed25519PrivateKey.generate().public_key().public_bytes_raw())
    count = MessageV2.objects.count()
    assert_one_error_line(alice.run("send", cid, "blocked"), "key change", bob.email)
    assert MessageV2.objects.count() == count
    assert f"WARNING: key change: {bob.email} has new keys" in alice.ok("read", cid)
    assert "KEY CHANGED" in alice.ok("safety-number", bob.email)
    assert "Marked" in alice.ok("safety-number", bob.email, "--verify")
    alice.ok("send", cid, "to the new keys")  # a new epoch for Bob's new generation first
    assert MessageV2.objects.count() == count + 1
    assert f"{bob.email}  (verified)" in alice.ok("members", cid)
