"""``securechat listen`` announces a contact's reset without the recovery code at once
(issue 13, must-show 3).

The server's heartbeat and session re-checks run every 600 s here, so within the 5 s the
test gives, only the key-change push can bring the notice: no send is attempted. After
``accept-key``, the next send makes an epoch that the reset member's new identity opens,
read from the stored envelope.
"""

from __future__ import annotations

import queue
import subprocess
import sys
import threading

import pytest

import agecrypt
from accounts.models import HeldReset
from messaging.models import EpochV2
from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.client import cli_support
from tests.client.test_cli_messages import PASSWORD, CliUser
from tests.support.live import REPO_ROOT
from tests.support.resets import hold_reset_without_the_code, publish_due_resets

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_rate_limits")]

QUIET = "600"  # seconds: no heartbeat and no session re-check during the test
NOTICE_SECONDS = 5


@pytest.fixture
def server(start_server):
    return start_server("uvicorn", SECURECHAT_WS_HEARTBEAT_SECONDS=QUIET,
                        SECURECHAT_WS_RECHECK_SECONDS=QUIET)


def start_listening(user: CliUser) -> tuple[subprocess.Popen, queue.Queue]:
    """``securechat listen`` as ``user``, its stdout lines in a queue."""
    proc = subprocess.Popen(
        [sys.executable, "-c", cli_support.BOOT, str(cli_support.TEST_FLOOR), "--server",
         user.server.url, "--password-stdin", "listen"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=REPO_ROOT, env=cli_support.cli_env(user.home), start_new_session=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()
    proc.stdin.write(PASSWORD + "\n")
    proc.stdin.close()
    return proc, lines


def test_listen_shows_a_contacts_reset_without_the_code_at_once_and_the_next_epoch_is_for_it(
        server, tmp_path):
    alice, bob = CliUser(server, tmp_path, "alice"), CliUser(server, tmp_path, "bob")
    cid = alice.ok("new", bob.email).split()[2]
    bob.ok("send", cid, "before my reset")
    before = EpochV2.objects.filter(conversation_id=cid).order_by("-number").first()
    proc, lines = start_listening(alice)
    try:
        first = lines.get(timeout=60)
        assert first.startswith("listening to "), first
        held = hold_reset_without_the_code(server, tmp_path, bob.email)
        assert lines.empty()  # the control: held, nothing published, nothing shown
        publish_due_resets()
        assert HeldReset.objects.get(user_id=bob.id).state == HeldReset.PUBLISHED
        try:
            notice = lines.get(timeout=NOTICE_SECONDS)
        except queue.Empty:
            pytest.fail(f"no key-change notice within {NOTICE_SECONDS} s")
        assert notice.startswith(f"WARNING: key change: {bob.email} has new keys"), notice
    finally:
        proc.kill()
        proc.wait()

    cli_support.assert_one_error_line(alice.run("send", cid, "blocked"), bob.email)
    alice.ok("accept-key", bob.email)
    alice.ok("send", cid, "after your reset")
    newest = EpochV2.objects.filter(conversation_id=cid).order_by("-number").first()
    assert newest.number == before.number + 1
    assert agecrypt.decrypt(bytes(newest.envelope), [held.identity.current_identity])
    with pytest.raises(agecrypt.AgeError):  # the control: the old epoch is not for it
        agecrypt.decrypt(bytes(before.envelope), [held.identity.current_identity])
