"""Version 2 ciphertext sends over HTTP: epoch naming, signatures, idempotency, the timeline.

Boxes are sealed and signed by ``client.messagebox`` with the epoch secret the
client made; the server only checks format and signature, and members open
what it stored.
"""

from __future__ import annotations

import base64
import json
import os

import pytest

from client import messagebox
from messaging.models import MessageV2
from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.support.v2chat import flip, group_of, post_json, snapshot

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_rate_limits")]


def opened_text(group, item) -> str:
    """What a member reads: the box opened in the context the client rebuilds."""
    statement = messagebox.parse_statement(base64.b64decode(item["statement"]))
    assert statement.context.envelope_hash == group.epoch.envelope_hash
    plain = messagebox.open_box(group.epoch.secret, statement.context,
                                base64.b64decode(item["box"]))
    return messagebox.parse_plaintext(plain)["text"]


def test_a_send_naming_a_stale_epoch_gets_409_with_the_current_one(trio):
    alice, bob, carol = trio
    group = group_of(alice, bob, carol)
    old = group.epoch
    assert group.new_epoch(bob).status_code == 201
    before = snapshot()
    r = group.send(carol, "in the old epoch", epoch=old)
    assert r.status_code == 409 and r.json()["error"] == "stale_epoch"
    assert r.json()["epoch"] == {"number": group.epoch.number,
                                 "envelope_hash": group.epoch.envelope_hash.hex()}
    assert snapshot() == before
    # The client fetches the epoch it was named and retries in it.
    assert group.send(carol, "in the new epoch").status_code == 201


def test_a_bad_signature_is_a_400_and_nothing_is_stored(trio):
    alice, bob, _ = trio
    group = group_of(alice, bob)
    body = group.message(bob, "forged")
    before = snapshot()
    r = post_json(bob.http, group.url("messages"), {**body, "signature": flip(body["signature"])})
    assert r.status_code == 400 and r.json()["error"] == "bad_signature"
    assert r.json()["field"] == "signature"
    # Bob's statement signed with Alice's key is as bad as a flipped bit.
    wrong = messagebox.sign_statement(alice.signing_key, messagebox.parse_statement(
        base64.b64decode(body["statement"])))[1]
    r = post_json(bob.http, group.url("messages"),
                  {**body, "signature": base64.b64encode(wrong).decode()})
    assert r.status_code == 400 and r.json()["error"] == "bad_signature"
    # Alice may not send Bob's signed message as hers.
    r = post_json(alice.http, group.url("messages"), body)
    assert r.status_code == 400 and r.json()["field"] == "statement"
    assert snapshot() == before


def test_malformed_boxes_and_statements_are_refused_naming_the_field(trio):
    alice, bob, _ = trio
    group = group_of(alice, bob)
    body = group.message(alice, "hi")
    box = base64.b64decode(body["box"])
    cases = [
        ({**body, "box": base64.b64encode(b"\x01" + box[1:]).decode()}, "box"),
        ({**body, "box": base64.b64encode(box[:-1]).decode()}, "box"),
        ({**body, "box": base64.b64encode(bytes(49153)).decode()}, "box"),
        ({**body, "box": flip(body["box"])}, "statement"),  # the statement signs another box
        ({**body, "statement": base64.b64encode(b"garbage").decode()}, "statement"),
        ({**body, "signature": base64.b64encode(bytes(63)).decode()}, "signature"),
        ({key: value for key, value in body.items() if key != "box"}, "box"),
    ]
    before = snapshot()
    for payload, field in cases:
        r = post_json(alice.http, group.url("messages"), payload)
        assert (r.status_code, r.json().get("field")) == (400, field), (field, r.json())
    assert snapshot() == before


def test_a_repeated_client_message_id_returns_the_stored_message(trio):
    alice, bob, _ = trio
    group = group_of(alice, bob)
    client_id = os.urandom(16)
    body = group.message(bob, "once", client_message_id=client_id)
    first = post_json(bob.http, group.url("messages"), body)
    again = post_json(bob.http, group.url("messages"), body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["items"] == first.json()["items"] and not again.json()["created"]
    other = post_json(bob.http, group.url("messages"),
                      group.message(bob, "another text", client_message_id=client_id))
    assert other.status_code == 409 and other.json()["error"] == "client_id_conflict"
    # The id is per sender: Alice may use the same one.
    assert group.send(alice, "mine", client_message_id=client_id).status_code == 201
    assert MessageV2.objects.filter(client_message_id=client_id).count() == 2


def test_the_timeline_replays_operations_epochs_and_messages_in_seq_order(trio):
    alice, bob, carol = trio
    group = group_of(alice, bob)  # seq 1 create, 2 epoch 1, 3 add bob, 4 epoch 2
    assert group.send(alice, "one").status_code == 201                  # 5
    assert group.append(alice, "add", carol, with_epoch=True).status_code == 201  # 6, 7
    assert group.send(carol, "two").status_code == 201                  # 8
    assert group.append(bob, "leave").status_code == 201                # 9
    assert group.send(alice, "three").status_code == 201                # 10
    timeline = carol.http.get(group.url("timeline")).json()
    items = timeline["items"]
    assert timeline["last_seq"] == 10 and [i["seq"] for i in items] == list(range(1, 11))
    assert [i["type"] for i in items] == ["operation", "epoch", "operation", "epoch", "message",
                                          "operation", "epoch", "message", "operation",
                                          "message"]
    assert [i["kind"] for i in items if i["type"] == "operation"] == [
        "create", "add", "add", "leave"]
    # Carol holds epoch 3 (made when she was added): she reads what was sent in it.
    assert [opened_text(group, i) for i in items if i["seq"] > 7 and i["type"] == "message"] \
        == ["two", "three"]
    later = carol.http.get(group.url("timeline"), {"after": 7}).json()["items"]
    assert [i["seq"] for i in later] == [8, 9, 10]
    assert bob.http.get(group.url("timeline")).status_code == 404  # bob left
    bad = carol.http.get(group.url("timeline"), {"after": "-1"})
    assert bad.status_code == 400 and bad.json()["field"] == "after"


def test_reads_never_write(trio):
    alice, bob, _ = trio
    group = group_of(alice, bob)
    assert group.send(bob, "x").status_code == 201
    before = snapshot()
    for path in ("members", "epochs", "timeline"):
        assert alice.http.get(group.url(path)).status_code == 200
    assert alice.http.get("/api/v1/v2/conversations").status_code == 200
    assert snapshot() == before


def test_a_message_box_over_48_kib_is_refused_by_the_body_limit(trio):
    alice, bob, _ = trio
    group = group_of(alice, bob)
    body = json.dumps({"box": "A" * 100_000, "statement": "", "signature": ""})
    r = alice.http.post(group.url("messages"), data=body, content_type="application/json")
    assert r.status_code == 413
