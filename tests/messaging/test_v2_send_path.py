"""The v2 send path at the speed of its transport (issue 13 "speed", DESIGN.md §5): a send
over a socket runs four SQL statements in a group and five in a direct conversation once
the socket knows the conversation and the sender's key; a retried send is still found
and acked without using a seq; what the socket remembers never outlives the truth
(membership is re-checked in the transaction, a new key generation is read).

Counts exclude transaction control (BEGIN, COMMIT), which SQLite's driver shows as
statements and PostgreSQL's does not.
"""

from __future__ import annotations

import base64

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.errors import NotFound
from accounts.models import KeyGeneration
from messaging.models import ConversationV2, MessageV2
from messaging.v2 import socket as v2_socket
from messaging.v2.checks import SenderCache
from messaging.v2.errors import BadSignature, ClientIdConflict, StaleEpoch
from tests.accounts import fresh_rate_limits  # noqa: F401
from tests.support.v2chat import direct_of, group_of

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_rate_limits"), pytest.mark.dbsensitive]

CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


def statements(queries) -> list[str]:
    """The SQL statements run, transaction control left out, each cut to its verb and
    table (``SELECT messaging_conversationv2``)."""
    found = []
    for query in queries.captured_queries:
        sql = query["sql"].strip()
        if sql.upper().startswith(CONTROL):
            continue
        verb = sql.split()[0].upper()
        marker = {"SELECT": " FROM ", "INSERT": "INSERT INTO ", "UPDATE": "UPDATE "}[verb]
        table = sql.split(marker, 1)[1].split()[0].strip('"')
        found.append(f"{verb} {table}")
    return found


def frame(group, sender, text: str, **kwargs) -> dict:
    return {"type": "send2", "conversation": group.hex, **group.message(sender, text, **kwargs)}


def send_counted(user, body: dict, cache: SenderCache) -> tuple[dict, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        ack = v2_socket.send2(user, body, cache)
    return ack, statements(queries)


def test_a_group_send_is_four_statements_once_the_socket_knows_the_conversation(trio):
    alice, bob, carol = trio
    group = group_of(alice, bob, carol)
    user, cache = alice.user, SenderCache()
    first, cold = send_counted(user, frame(group, alice, "first"), cache)
    ack, warm = send_counted(user, frame(group, alice, "second"), cache)
    assert warm == ["SELECT messaging_conversationv2",  # locked (FOR UPDATE on PostgreSQL)
                    "SELECT messaging_memberv2",  # members: the check and the push list
                    "INSERT messaging_messagev2",
                    "UPDATE messaging_conversationv2"]  # last_seq
    # The first send of a socket also reads access and the sender's directory key.
    assert cold == ["SELECT messaging_conversationv2", "SELECT accounts_keygeneration", *warm]
    assert ack["seq"] == first["seq"] + 1
    # Without a cache (the HTTP path) every send reads both again.
    with CaptureQueriesContext(connection) as queries:
        v2_socket.send2(user, frame(group, alice, "third"))
    assert len(statements(queries)) == len(cold)


def test_a_direct_send_adds_only_the_block_check(trio):
    alice, bob, _carol = trio
    direct = direct_of(alice, bob)
    user, cache = alice.user, SenderCache()
    send_counted(user, frame(direct, alice, "warm up"), cache)
    _ack, warm = send_counted(user, frame(direct, alice, "hello"), cache)
    assert warm == ["SELECT messaging_conversationv2", "SELECT messaging_memberv2",
                    "SELECT messaging_block", "INSERT messaging_messagev2",
                    "UPDATE messaging_conversationv2"]


def test_a_retried_send_is_acked_with_its_seq_and_uses_none(trio):
    alice, bob, _carol = trio
    group = group_of(alice, bob)
    user, cache = alice.user, SenderCache()
    body = frame(group, alice, "once")
    ack = v2_socket.send2(user, body, cache)
    again = v2_socket.send2(user, body, cache)  # the ack was lost: the client retries
    assert (again["seq"], again["created"], again["message_hash"]) == (
        ack["seq"], False, ack["message_hash"])
    # The failed insert used no seq: the next message takes the next one.
    after = v2_socket.send2(user, frame(group, alice, "next"), cache)
    assert after["seq"] == ack["seq"] + 1
    seqs = list(MessageV2.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == [ack["seq"], after["seq"]]
    assert ConversationV2.objects.get(pk=group.hex).last_seq == after["seq"]


def test_another_message_under_a_used_client_id_is_refused_and_stores_nothing(trio):
    alice, bob, _carol = trio
    group = group_of(alice, bob)
    cache = SenderCache()
    client_message_id = b"\x07" * 16
    ack = v2_socket.send2(alice.user, frame(group, alice, "mine",
                                            client_message_id=client_message_id), cache)
    other = frame(group, alice, "another text", client_message_id=client_message_id)
    with pytest.raises(ClientIdConflict) as refused:
        v2_socket.send2(alice.user, other, cache)
    assert refused.value.extra == {"seq": ack["seq"]}
    assert MessageV2.objects.count() == 1
    assert ConversationV2.objects.get(pk=group.hex).last_seq == ack["seq"]


def test_a_retry_after_the_epoch_moved_is_still_acked(trio):
    alice, bob, _carol = trio
    group = group_of(alice, bob)
    cache = SenderCache()
    body = frame(group, alice, "sent in the old epoch")
    ack = v2_socket.send2(alice.user, body, cache)
    stale = frame(group, alice, "new, in the old epoch")
    assert group.new_epoch(bob).status_code == 201
    again = v2_socket.send2(alice.user, body, cache)
    assert (again["seq"], again["created"]) == (ack["seq"], False)
    # Control: a message not stored before gets the stale-epoch refusal.
    with pytest.raises(StaleEpoch):
        v2_socket.send2(alice.user, stale, cache)


def test_a_removed_member_is_refused_although_the_socket_remembered_the_conversation(trio):
    alice, bob, carol = trio
    group = group_of(alice, bob, carol)
    cache = SenderCache()
    v2_socket.send2(carol.user, frame(group, carol, "while a member"), cache)
    assert group.hex in cache.member_of
    assert group.append(alice, "remove", carol).status_code == 201
    with pytest.raises(NotFound):
        v2_socket.send2(carol.user, frame(group, carol, "after removal"), cache)
    assert group.hex not in cache.member_of  # the next try takes the early 404
    assert MessageV2.objects.filter(sender_id=carol.id).count() == 1


def test_a_new_key_generation_is_read_and_a_remembered_one_costs_no_query(trio):
    alice, _bob, _carol = trio
    cache = SenderCache()
    current = bytes(KeyGeneration.objects.get(user_id=alice.id, number=1).signing_public_key)
    assert cache.signing_key(alice.id, 1) == current
    with CaptureQueriesContext(connection) as queries:
        assert cache.signing_key(alice.id, 1) == current
    assert len(queries) == 0
    assert cache.signing_key(alice.id, 2) is None  # not (yet) in the directory
    KeyGeneration.objects.filter(user_id=alice.id).update(retired_at=timezone.now())
    new_key = b"\x42" * 32
    KeyGeneration.objects.create(user_id=alice.id, number=2, key_type="x25519",
                                 recipient="age1example", signing_public_key=new_key)
    assert cache.signing_key(alice.id, 2) == new_key  # a miss was not remembered


def test_a_bad_signature_is_refused_with_a_warm_cache(trio):
    alice, bob, _carol = trio
    group = group_of(alice, bob)
    cache = SenderCache()
    v2_socket.send2(alice.user, frame(group, alice, "warm"), cache)
    forged = frame(group, alice, "forged")
    signature = bytearray(base64.b64decode(forged["signature"]))
    signature[0] ^= 1
    forged["signature"] = base64.b64encode(bytes(signature)).decode()
    before = MessageV2.objects.count()
    with pytest.raises(BadSignature):
        v2_socket.send2(alice.user, forged, cache)
    assert MessageV2.objects.count() == before
