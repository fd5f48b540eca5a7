"""The command names of issue 13, run as a user runs them (another process, Django blocked).

``send EMAIL`` starts the direct conversation when there is none and ``send --conversation
ID`` names one; ``history`` reads like ``read``; ``group create|add|remove|leave|rename``
manage a group (a rename is a signed operation whose name travels only in the new epoch);
``contacts`` lists the pin blob; ``verify [--mark]`` shows and marks the safety number
(two devices marking at once both keep their mark); a key change blocks ``send`` until
``accept-key`` pins the new keys, unverified.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from django.conf import settings
from django.utils import timezone

from messaging.models import ConversationV2, EpochV2, MembershipOperation, MessageV2
from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.client import cli_support
from tests.client.cli_support import assert_one_error_line
from tests.client.test_cli_messages import PASSWORD, CliUser, messages
from tests.support.live import REPO_ROOT

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_rate_limits")]


@pytest.fixture
def server(start_shared_server):
    """One uvicorn for the module's tests (rows and files are emptied after each)."""
    return start_shared_server("uvicorn")


def test_send_to_an_address_starts_the_direct_conversation_once(server, tmp_path):
    alice, bob = CliUser(server, tmp_path, "alice"), CliUser(server, tmp_path, "bob")
    assert "sent #" in alice.ok("send", bob.email, "hello bob")  # no conversation before
    assert ConversationV2.objects.count() == 1
    cid = ConversationV2.objects.get().pk
    alice.ok("send", bob.email, "again")  # the same conversation, not a second one
    bob.ok("send", "--conversation", cid[:8], "hello alice")
    assert ConversationV2.objects.count() == 1
    expected = [f"{alice.email}: hello bob", f"{alice.email}: again",
                f"{bob.email}: hello alice"]
    history = bob.ok("history", alice.email)
    assert messages(history) == expected
    assert messages(alice.ok("read", cid)) == expected  # history is read under another name
    assert "0 unread" in bob.ok("conversations")  # and, like read, marks it read
    count = MessageV2.objects.count()
    assert_one_error_line(alice.run("send", "--conversation", cid, bob.email, "x"), "not both")
    assert_one_error_line(alice.run("send"), "send needs EMAIL or CONVERSATION")
    assert_one_error_line(alice.run("send", "nobody-here@example.org", "x"), "[not_found]")
    assert MessageV2.objects.count() == count and ConversationV2.objects.count() == 1


def test_group_create_add_rename_remove_and_leave(server, tmp_path):
    alice, bob, carol = (CliUser(server, tmp_path, n) for n in ("alice", "bob", "carol"))
    created = alice.ok("group", "create", "Book club", bob.email)
    cid = created.split()[2]
    assert created.startswith("group conversation ") and "Book club" in bob.ok("conversations")
    assert "added" in alice.ok("group", "add", cid, carol.email)
    assert_one_error_line(carol.run("group", "rename", cid, "Mine now"),
                          "only an admin may rename the conversation")
    assert "renamed" in alice.ok("group", "rename", cid, "Reading circle")
    for user in (bob, carol):  # the new name reached every member through the new epoch
        listing = user.ok("conversations")
        assert "Reading circle" in listing and "Book club" not in listing
    assert f"{alice.email} renamed the conversation" in carol.ok("history", cid)
    # The operation carries no name, and the epoch's envelope holds it encrypted only.
    rename = MembershipOperation.objects.get(conversation_id=cid, kind="rename")
    assert b"Reading" not in bytes(rename.statement)
    assert not any(b"Reading" in bytes(e.envelope) for e in EpochV2.objects.all())
    assert_one_error_line(alice.run("group", "rename", cid, "  "), "the group name is empty")
    assert "removed" in alice.ok("group", "remove", cid, bob.email)
    assert_one_error_line(bob.run("history", cid), "no conversation of yours matches")
    assert "left" in carol.ok("group", "leave", cid)
    alice.ok("send", cid, "alone")
    history = alice.ok("history", cid)
    assert "removed" in history and "left" in history
    assert messages(history)[-1] == f"{alice.email}: alone"
    direct = alice.ok("new", bob.email).split()[2]
    assert_one_error_line(alice.run("group", "rename", direct, "Pals"), "direct conversation")


# The CLI, held before its first pin write until the test says go (a file, so the test
# can let another device write in between); it counts the conflicts it was answered.
PAUSE_BEFORE_PIN_WRITE = cli_support.BLOCK_DJANGO + """
import pathlib, time
from client import http
from client.errors import ApiFailure
gate = pathlib.Path(sys.argv[1]); gate.mkdir(exist_ok=True)
original, conflicts = http.Session.request, []
def request(self, method, path, body=None):
    if method == "PUT" and path == "/api/v1/me/pins":
        if not (gate / "waiting").exists():
            (gate / "waiting").touch()
            deadline = time.monotonic() + 60
            while not (gate / "go").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
        try:
            return original(self, method, path, body)
        except ApiFailure as exc:
            conflicts.append(exc.code)
            raise
        finally:
            (gate / "conflicts").write_text(str(conflicts.count("version_conflict")))
    return original(self, method, path, body)
http.Session.request = request
from client.cli import main
sys.exit(main(sys.argv[2:], _min_work_factor=FLOOR))
""".replace("FLOOR", str(cli_support.TEST_FLOOR))


def _login_second_device(user: CliUser, home) -> None:
    result = cli_support.run_cli(home, "--server", user.server.url, "--password-stdin",
                                 "login", "--email", user.email, stdin=PASSWORD + "\n")
    assert result.returncode == 0, result


def _contact_line(listing: str, email: str) -> str:
    found = [line for line in listing.splitlines() if line.startswith(email + " ")]
    assert len(found) == 1, listing
    return found[0]


def test_contacts_list_the_pins_and_verify_marks_them_from_two_devices(server, tmp_path):
    alice, bob, carol = (CliUser(server, tmp_path, n) for n in ("alice", "bob", "carol"))
    assert "No pinned contacts yet" in alice.ok("contacts")
    alice.ok("send", bob.email, "hi")  # pins Bob's keys on first use
    alice.ok("send", carol.email, "hi")
    shown = alice.ok("verify", bob.email)
    assert shown.splitlines()[:2] == alice.ok("safety-number", bob.email).splitlines()[:2]
    assert shown.splitlines()[1] == bob.ok("verify", alice.email).splitlines()[1]
    signing = [line.split()[-1] for line in bob.ok("fingerprint").splitlines()
               if "signing key sha256" in line][0]
    line = _contact_line(alice.ok("contacts"), bob.email)
    assert line.split() == [bob.email, "user", str(bob.id), "generation", "1", "key",
                            signing[:16], "not", "verified"]
    # Two devices of Alice's mark two contacts at once: the phone is held just before its
    # pin write while the laptop writes, so the phone's compare-and-swap loses; it merges
    # and retries, and both marks survive.
    laptop = tmp_path / "alice-laptop"
    _login_second_device(alice, laptop)
    gate = tmp_path / "gate"
    phone = subprocess.Popen(
        [sys.executable, "-c", PAUSE_BEFORE_PIN_WRITE, str(gate), "--server", server.url,
         "--password-stdin", "verify", bob.email, "--mark"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=REPO_ROOT, env=cli_support.cli_env(alice.home), start_new_session=True)
    try:
        phone.stdin.write(PASSWORD + "\n")
        phone.stdin.close()
        deadline = time.monotonic() + 60
        while not (gate / "waiting").exists():
            assert phone.poll() is None and time.monotonic() < deadline, phone.stderr.read()
            time.sleep(0.05)
        result = cli_support.run_cli(laptop, "--server", server.url, "--password-stdin",
                                     "verify", carol.email, "--mark", stdin=PASSWORD + "\n")
        assert result.returncode == 0 and "Marked" in result.stdout, result
        (gate / "go").touch()
        phone.wait(timeout=60)
        out, err = phone.stdout.read(), phone.stderr.read()
    finally:
        if phone.poll() is None:
            phone.kill()
            phone.wait()
    assert phone.returncode == 0 and "Marked" in out, (out, err)
    assert (gate / "conflicts").read_text() == "1"  # the phone lost the race once, then won
    listing = alice.ok("contacts")
    assert _contact_line(listing, bob.email).endswith("  verified")
    assert _contact_line(listing, carol.email).endswith("  verified")


def _give_new_unendorsed_keys(user: CliUser) -> None:
    """The directory now shows ``user`` a new generation no older key endorsed (a reset
    without recovery, or a server lying about the keys)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from accounts.models import KeyGeneration
    from client.identity import _new_identity

    KeyGeneration.objects.filter(user_id=user.id).update(retired_at=timezone.now())
    KeyGeneration.objects.create(
        user_id=user.id, number=2, key_type=settings.SECURECHAT_KEY_TYPE,
        recipient=str(_new_identity(settings.SECURECHAT_KEY_TYPE).recipient()),
        signing_public_key=Ed25519PrivateKey.generate().public_key().public_bytes_raw())


def test_a_key_change_blocks_send_until_accept_key_pins_the_new_keys(server, tmp_path):
    alice, bob = CliUser(server, tmp_path, "alice"), CliUser(server, tmp_path, "bob")
    cid = alice.ok("send", bob.email, "before the change").split()[3]
    alice.ok("verify", bob.email, "--mark")
    _give_new_unendorsed_keys(bob)
    count = MessageV2.objects.count()
    assert_one_error_line(alice.run("send", bob.email, "blocked"), bob.email, "accept-key")
    assert_one_error_line(alice.run("send", "--conversation", cid, "blocked"), "key change",
                          bob.email)
    assert MessageV2.objects.count() == count
    assert "generation 1" in _contact_line(alice.ok("contacts"), bob.email)
    accepted = alice.ok("accept-key", bob.email)
    assert f"Accepted {bob.email}'s keys of generation 2" in accepted
    line = _contact_line(alice.ok("contacts"), bob.email)
    assert "generation 2" in line and line.endswith("not verified")  # the mark was for old keys
    alice.ok("send", bob.email, "to the new keys")
    assert MessageV2.objects.count() == count + 1
    assert "pinned ones already" in alice.ok("accept-key", bob.email)
    assert_one_error_line(alice.run("accept-key", alice.email), "your own keys")
