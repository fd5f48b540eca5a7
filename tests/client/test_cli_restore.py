"""A server restored from a backup, as CLI users meet it (issue 13, issue 16's drill).

After the backup point Alice adds Carol (an operation and a new epoch) and writes; Bob
reads it all. The server then goes back to the backup. Each client that saw more than
the server now shows refuses to go on with one clear line naming `accept-restore`;
after accepting, the conversation continues from the restored state, and the next
message starts an epoch numbered above every one the client saw (the lost number is
never reused for another secret).
"""

from __future__ import annotations

import pytest

from messaging.models import ConversationV2, EpochV2, MembershipOperation, MemberV2, MessageV2
from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.client.cli_support import assert_one_error_line
from tests.client.test_cli_messages import CliUser, messages

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_rate_limits")]


@pytest.fixture
def server(start_server):
    return start_server("uvicorn")


def backup(cid: str) -> dict:
    """What a database backup holds of the conversation (its row and its members)."""
    row = ConversationV2.objects.filter(pk=cid).values(
        "last_seq", "head", "head_index", "epoch_number", "epoch_hash").get()
    return {"row": row, "members": set(MemberV2.objects.filter(conversation_id=cid)
                                       .values_list("user_id", flat=True))}


def restore(cid: str, saved: dict) -> None:
    """Put the conversation back to the backup: what came later is gone."""
    later = {"conversation_id": cid, "seq__gt": saved["row"]["last_seq"]}
    for model in (MessageV2, EpochV2, MembershipOperation):
        model.objects.filter(**later).delete()
    MemberV2.objects.filter(conversation_id=cid).exclude(user_id__in=saved["members"]).delete()
    ConversationV2.objects.filter(pk=cid).update(**saved["row"])


def test_clients_notice_a_restore_and_continue_above_every_epoch_they_saw(server, tmp_path):
    alice, bob, carol = (CliUser(server, tmp_path, n) for n in ("alice", "bob", "carol"))
    cid = alice.ok("new", bob.email, "--name", "Drill").split()[2]
    alice.ok("send", cid, "before the backup")
    bob.ok("read", cid)
    saved = backup(cid)
    alice.ok("members", cid, "--add", carol.email)
    alice.ok("send", cid, "after the backup")
    assert messages(bob.ok("read", cid))[-1].endswith("after the backup")
    highest = EpochV2.objects.filter(conversation_id=cid).order_by("-number")[0].number
    restore(cid, saved)

    refused = bob.run("read", cid)
    assert refused.returncode == 1
    assert_one_error_line(refused, "restored from a backup")
    assert "accept-restore" in refused.stderr and "[server_restored]" in refused.stderr
    assert "RESTORED" in bob.ok("conversations")
    refused_send = bob.run("send", cid, "not yet")
    assert refused_send.returncode == 1 and "restored" in refused_send.stderr
    assert not MessageV2.objects.filter(conversation_id=cid, seq__gt=saved["row"]["last_seq"])

    accepted = bob.ok("accept-restore", cid)
    assert "gone from the server" in accepted
    assert messages(bob.ok("read", cid)) == [f"{alice.email}: before the backup"]
    bob.ok("send", cid, "after the restore")
    numbers = sorted(EpochV2.objects.filter(conversation_id=cid).values_list("number", flat=True))
    assert numbers[-1] > highest  # above every epoch Bob saw, never the lost number again
    # Alice saw the lost epoch too: she is told, accepts, and reads Bob's new message.
    assert alice.run("read", cid).returncode == 1
    alice.ok("accept-restore", cid)
    assert messages(alice.ok("read", cid))[-1] == f"{bob.email}: after the restore"
