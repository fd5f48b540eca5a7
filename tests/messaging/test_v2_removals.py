"""Tombstones in v2 conversations: a sender's signed unsend, and the chain's expiry.

A tombstone keeps seq, sender, server time and the signed statement (so receivers follow
the sender's device chain past it); the ciphertext is deleted. Receivers judge it with
``client.timeline``: an unsend they hold explains it; one the server made up shows as
"removed by the server".
"""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from client import membership, messagebox, timeline
from messaging.models import ConversationV2, MessageV2
from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.support.v2chat import group_of, snapshot

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_rate_limits")]


@pytest.fixture
def chat(trio):
    alice, bob, carol = trio
    return group_of(alice, bob), alice, bob, carol


def sent(response) -> dict:
    assert response.status_code == 201, response.content
    return response.json()["items"][0]


def items_of(group, user) -> list[dict]:
    response = user.http.get(group.url("timeline"), {"after": 0})
    assert response.status_code == 200, response.content
    return response.json()["items"]


def as_received(group, items: list[dict]) -> list:
    """The timeline as a receiver feeds it to client.timeline: messages opened and their
    unsend targets read from the box; tombstones as tombstones."""
    out = []
    for item in items:
        if item["type"] == "tombstone":
            statement = messagebox.parse_statement(base64.b64decode(item["statement"]))
            out.append(timeline.Tombstone(item["seq"], item["server_time"], item["sender"],
                                          statement, bytes.fromhex(item["message_hash"])))
        elif item["type"] == "message":
            statement = messagebox.parse_statement(base64.b64decode(item["statement"]))
            doc = messagebox.parse_plaintext(messagebox.open_box(
                group.epoch.secret, statement.context, base64.b64decode(item["box"])))
            target = bytes.fromhex(doc["target"]) if doc["type"] == "unsend" else None
            out.append(timeline.Received(item["seq"], item["server_time"], statement,
                                         bytes.fromhex(item["message_hash"]), target))
    return out


def test_an_unsend_tombstones_its_target_and_takes_the_next_seq(chat):
    group, alice, bob, _ = chat
    keep = sent(group.send(bob, "stays"))
    target = sent(group.send(bob, "regretted"))
    unsend = sent(group.unsend(bob, bytes.fromhex(target["message_hash"])))
    assert unsend["seq"] == target["seq"] + 1
    items = {item["seq"]: item for item in items_of(group, alice)}
    tombstone = items[target["seq"]]
    assert {k: tombstone[k] for k in ("type", "seq", "sender", "server_time", "reason",
                                      "message_hash")} == {
        "type": "tombstone", "seq": target["seq"], "sender": bob.id,
        "server_time": target["server_time"], "reason": "unsend",
        "message_hash": target["message_hash"]}
    assert "box" not in tombstone
    assert items[keep["seq"]]["type"] == "message"
    row = MessageV2.objects.get(conversation=group.hex, seq=target["seq"])
    assert bytes(row.box) == b"" and bytes(row.statement)  # the ciphertext goes
    # Alice's client finds the tombstone explained by Bob's signed unsend.
    assert timeline.check(as_received(group, items_of(group, alice))) == []


def test_a_tombstone_nobody_signed_is_shown_as_removed_by_the_server(chat):
    group, alice, bob, _ = chat
    target = sent(group.send(bob, "the server dislikes this"))
    MessageV2.objects.filter(conversation=group.hex, seq=target["seq"]).update(
        box=b"", removed_at=timezone.now(), removed_reason="unsend")
    findings = timeline.check(as_received(group, items_of(group, alice)))
    assert [(f.kind, f.seq, f.sender_id) for f in findings] == [
        ("removed-by-server", target["seq"], bob.id)]


def test_only_the_sender_unsends_and_bad_requests_change_nothing(chat):
    group, alice, bob, carol = chat
    target = bytes.fromhex(sent(group.send(bob, "mine"))["message_hash"])
    before = snapshot()
    by_alice = group.unsend(alice, target)  # a member, not the sender: as if it did not exist
    assert by_alice.status_code == 404 and by_alice.json()["error"] == "not_found"
    by_carol = group.unsend(carol, target)  # not a member
    assert by_carol.status_code == 404
    unknown = group.unsend(bob, bytes(32))
    assert unknown.status_code == 404
    not_unsend = group.message(bob, "a text, not an unsend")
    wrong_kind = group.unsend(bob, target, body=not_unsend)
    assert (wrong_kind.status_code, wrong_kind.json()["field"]) == (400, "statement")
    bad_hash = bob.http.post(group.url("messages/XYZ/unsend"), data="{}",
                             content_type="application/json")
    assert (bad_hash.status_code, bad_hash.json()["field"]) == (400, "message")
    assert snapshot() == before
    assert MessageV2.objects.get(message_hash=target).removed_at is None
    # Positive control: the sender's own unsend is taken, and repeating it stores nothing.
    body = group.unsend_body(bob, target)
    assert group.unsend(bob, target, body=body).status_code == 201
    again = group.unsend(bob, target, body=body)
    assert again.status_code == 200 and MessageV2.objects.filter(
        conversation=group.hex).count() == 2


def test_set_expiry_hides_old_messages_at_once_and_the_purge_tombstones_them(chat):
    group, alice, bob, _ = chat
    old = sent(group.send(bob, "old news"))
    MessageV2.objects.filter(conversation=group.hex, seq=old["seq"]).update(
        server_time=timezone.now() - timedelta(hours=2))
    fresh = sent(group.send(bob, "fresh"))
    r = group.append(alice, "set-expiry", argument=membership.expiry_argument(3600))
    assert r.status_code == 201, r.content
    assert ConversationV2.objects.get(pk=group.hex).expiry_seconds == 3600
    items = {item["seq"]: item for item in items_of(group, alice)}
    assert (items[old["seq"]]["type"], items[old["seq"]]["reason"]) == ("tombstone", "expiry")
    assert items[fresh["seq"]]["type"] == "message"
    assert MessageV2.objects.get(conversation=group.hex, seq=old["seq"]).removed_at is None
    call_command("purge_expired")  # dry run: nothing changes
    assert bytes(MessageV2.objects.get(conversation=group.hex, seq=old["seq"]).box)
    call_command("purge_expired", "--yes")
    row = MessageV2.objects.get(conversation=group.hex, seq=old["seq"])
    assert (bytes(row.box), row.removed_reason) == (b"", "expiry")
    assert MessageV2.objects.get(conversation=group.hex, seq=fresh["seq"]).removed_at is None
    # The chain set the expiry, so receivers find nothing to flag.
    assert timeline.check(as_received(group, items_of(group, alice)),
                          expiry_seconds=3600) == []


def test_tombstones_do_not_count_as_unread(chat):
    group, alice, bob, _ = chat
    target = sent(group.send(bob, "gone soon"))
    sent(group.send(bob, "still here"))
    listed = alice.http.get(group.url()).json()["conversations"]
    assert [c["unread"] for c in listed if c["id"] == group.hex] == [2]
    group.unsend(bob, bytes.fromhex(target["message_hash"]))
    listed = alice.http.get(group.url()).json()["conversations"]
    assert [c["unread"] for c in listed if c["id"] == group.hex] == [2]  # the unsend counts
